#!/usr/bin/env bash
# What each part of `aitrace sched`'s default mode costs: aitrace builds with one part of the
# sched programs compiled out (AITRACE_ABLATE_* in bpf/sched.bpf.c and bpf/sched_groups.bpf.h),
# measured by bench/sched_overhead.sh in the same rounds as the full build, runqlat and the
# empty-program floor. Variants (each in build-ablate-<name>/, aitrace only, ccache):
#   no-stats      the statistics and histograms (sum, min, max, buckets) not updated
#   no-clock      no clock read (every interval 0)
#   storage-only  the hold check, the task filter and the task-storage lookups, nothing else
# Full - no-stats is what the five histograms and the counters cost, full - no-clock the clock
# reads, storage-only - floor the per-task state lookups; the rest is the state machine and
# the group lookup. The variants are for measuring only: their reports are wrong by design.
#
#   bench/sched_parts_overhead.sh [ROUNDS] [LOOPS]   (or scripts/bench sched_parts; defaults as
#                                                  bench/sched_overhead.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
launcher=()
if command -v ccache >/dev/null; then  # as scripts/build: hits across checkouts
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$root")} CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
variants=()
for v in "no-stats:-DAITRACE_ABLATE_STATS" "no-clock:-DAITRACE_ABLATE_CLOCK" \
         "storage-only:-DAITRACE_ABLATE_ALL_BUT_STORAGE -DAITRACE_ABLATE_CLOCK"; do
  name=${v%%:*} flags=${v#*:} dir=$root/build-ablate-${v%%:*}
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAITRACE_WERROR=ON -DAITRACE_BUILD_TESTS=OFF \
    "-DAITRACE_BPF_EXTRA_FLAGS=$flags" "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target aitrace >/dev/null
  variants+=("$name=$dir/aitrace")
done
AITRACE_VARIANTS="${variants[*]}" AITRACE_BENCH_TRACERS=${AITRACE_BENCH_TRACERS:-"none runqlat aitrace floor"} \
  exec "$root/bench/sched_overhead.sh" "$@"
