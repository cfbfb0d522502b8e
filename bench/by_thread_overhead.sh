#!/usr/bin/env bash
# What `aitrace sched --by thread` costs against `--by process` and libbpf-tools' runqlat (plain,
# and -L: one histogram per thread, the like-for-like peer), on many sleeping-and-waking threads:
# build/workloads/thread_swarm sleepers N MS NAP (N threads, each napping NAP ms, for MS ms).
# Per tracer: BPF ns per context switch (run_time_ns of its programs, kernel.bpf_stats_enabled=1,
# over /proc/stat ctxt) and per program run, the switches in the window, and for aitrace the
# samples it lost (lost.* of its JSON: a full histogram map shows as hist_overflow). Tracers swap
# places every round; the medians, and their ratios, are what to compare on a shared machine.
#
#   bench/by_thread_overhead.sh [ROUNDS] [THREADS] [MS] [NAP_MS]   (defaults: 5 2000 3000 20)
#   AITRACE_VARIANTS="base=/other/build/aitrace ..." adds a tracer v-NAME per NAME=BIN: that
#   build's `--by process`, for a before/after of the default mode on this shape in the same
#   rounds (its ratio is printed against by-process). AITRACE_BY_THREAD_TRACERS picks the
#   tracers (default: by-thread by-process runqlat runqlat-L).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AITRACE_BUILD_DIR:-$root/build}
aitrace=${AITRACE_BIN:-$build/aitrace}
swarm=$build/workloads/thread_swarm
rounds=${1:-5}
threads=${2:-2000}
ms=${3:-3000}
nap=${4:-20}
runqlat=${AITRACE_RUNQLAT:-/usr/sbin/runqlat}
source "$root/bench/lib/bpf_cost.sh"
source "$root/bench/lib/rounds.sh"

for tool in bpftool python3; do
  command -v "$tool" >/dev/null || { echo "by_thread_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $runqlat ]] || { echo "by_thread_overhead: $runqlat not found (Debian package libbpf-tools)" >&2; exit 1; }
[[ -x $aitrace && -x $swarm ]] || { echo "by_thread_overhead: $aitrace or $swarm not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "by_thread_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }

declare -A variant_bin=()
for v in ${AITRACE_VARIANTS:-}; do
  [[ -x ${v#*=} ]] || { echo "by_thread_overhead: variant ${v%%=*}: ${v#*=} is not executable" >&2; exit 1; }
  variant_bin[v-${v%%=*}]=${v#*=}
done
tracers="${AITRACE_BY_THREAD_TRACERS:-by-thread by-process runqlat runqlat-L} ${!variant_bin[*]}"

bpf_cost_begin

start_tracer() {
  local want
  case $1 in
    by-thread) "$aitrace" sched --by thread --json -o "$work/by-thread.json" >/dev/null 2>"$work/err" & want=1 ;;
    by-process) "$aitrace" sched --by process --json -o "$work/by-process.json" >/dev/null 2>"$work/err" & want=1 ;;
    v-*) "${variant_bin[$1]}" sched --by process --json -o "$work/$1.json" >/dev/null 2>"$work/err" & want=1 ;;
    runqlat) "$runqlat" >/dev/null 2>&1 & want=3 ;;
    runqlat-L) "$runqlat" -L >/dev/null 2>&1 & want=3 ;;
  esac
  tracer_pid=$!
  wait_for_programs "$1" "$want" "$([[ $1 == by-* || $1 == v-* ]] && echo "$work/err")"
}

# lost NAME: the sum of aitrace's lost counters in its report (- for runqlat, which counts none).
lost() {
  [[ $1 == by-* || $1 == v-* ]] || { echo -; return; }
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(d['lost'].values()))" "$work/$1.json"
}

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: thread_swarm sleepers $threads $ms $nap; $rounds rounds, tracers back to back"
printf '%-6s %-11s %14s %11s %10s %8s\n' round tracer bpf_ns/switch bpf_ns/run switches lost
results=$work/results
for r in $(seq "$rounds"); do
  # shellcheck disable=SC2086 # a list of names
  for name in $(round_order "$r" $tracers); do
    start_tracer "$name"
    read -r ns run sw <<<"$(measure_bpf_cost "$name" "$swarm" sleepers "$threads" "$ms" "$nap")"
    stop_tracer
    printf '%-6s %-11s %14s %11s %10s %8s\n' "$r" "$name" "$ns" "$run" "$sw" "$(lost "$name")"
    echo "$name $ns $run" >>"$results"
  done
done
echo "median over $rounds rounds; ratios are the median of each round's by-thread (for v-*: by-process) over that tracer:"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = list(dict.fromkeys(r[0] for r in rows))
per = {n: [float(r[1]) for r in rows if r[0] == n] for n in names}  # one value per round, in order
for n in names:
    run = statistics.median(float(r[2]) for r in rows if r[0] == n)
    ratio = ""
    ref = "by-process" if n.startswith("v-") else "by-thread"
    if n != ref and ref in per:
        ratios = [t / v for t, v in zip(per[ref], per[n]) if v]
        ratio = f"  {ref}/{n} {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})"
    print(f"  {n:11} {statistics.median(per[n]):8.1f} BPF ns/switch  {run:6.1f} ns/run{ratio}")
PY
