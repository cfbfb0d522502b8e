#!/usr/bin/env bash
# Cost of `aitrace offcpu` beside libbpf-tools' offcputime (Debian package libbpf-tools), back to
# back on the same switch-heavy workload: `perf bench sched pipe` pinned to one CPU, where every
# switch-out blocks on a pipe, so each one takes two stacks (the worst case for both tools).
# Reports per tracer the BPF ns per context switch (run_time_ns of its programs over the
# machine's context switches), ns per program run, and the workload's slowdown. Then start-up
# and maximum RSS of `aitrace sched -o FILE -- true` (AITRACE_BASE_BIN: a build without
# offcpu to compare with), which the offcpu collector must leave as they are.
#
#   bench/offcpu_overhead.sh [ROUNDS] [LOOPS]      (defaults: 3 rounds, 200000 pipe loops)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
base=${AITRACE_BASE_BIN:-}
rounds=${1:-3}
loops=${2:-200000}
cpu=${AITRACE_BENCH_CPU:-0}
peer=/usr/sbin/offcputime
source "$root/bench/lib/bpf_cost.sh"

for tool in bpftool perf taskset python3; do
  command -v "$tool" >/dev/null || { echo "offcpu_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $peer ]] || { echo "offcpu_overhead: $peer not found (apt-get install libbpf-tools)" >&2; exit 1; }
[[ -x $aitrace ]] || { echo "offcpu_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "offcpu_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }

bpf_cost_begin

workload_ops() { taskset -c "$cpu" perf bench sched pipe -l "$loops" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }

# start_tracer NAME: starts it in the background and waits until its programs are attached:
# aitrace's readiness line (before it, it holds its short-lived hook probes), offcputime's first
# program.
start_tracer() {
  case $1 in
    aitrace) "$aitrace" offcpu -o "$work/aitrace.txt" >/dev/null 2>"$work/aitrace.err" & ;;
    offcputime) "$peer" >"$work/offcputime.txt" 2>&1 & ;;
  esac
  tracer_pid=$!
  if [[ $1 == aitrace ]]; then wait_for_programs "$1" 1 "$work/aitrace.err"; else wait_for_programs "$1" 1; fi
}

measure() {  # measure NAME -> "ops ns_per_switch ns_per_run"
  local name=$1 ops c0 c1 s0 s1 n0 n1
  if [[ $name == none ]]; then
    echo "$(workload_ops) 0 0"
    return
  fi
  start_tracer "$name"
  read -r s0 n0 <<<"$(prog_stats "${tracer_progs[@]}")"
  c0=$(ctxt)
  ops=$(workload_ops)
  c1=$(ctxt)
  read -r s1 n1 <<<"$(prog_stats "${tracer_progs[@]}")"
  stop_tracer
  python3 -c "t=$s1-$s0; n=$n1-$n0; c=$c1-$c0; print('$ops', round(t/max(c,1),1), round(t/max(n,1),1))"
}

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: taskset -c $cpu perf bench sched pipe -l $loops; $rounds rounds, tracers back to back"
printf '%-6s %-11s %12s %16s %12s\n' round tracer ops/s bpf_ns/switch bpf_ns/run
results=$work/results
for r in $(seq "$rounds"); do
  order="none offcputime aitrace"
  ((r % 2 == 0)) && order="none aitrace offcputime"
  for name in $order; do
    read -r ops ns run <<<"$(measure "$name")"
    printf '%-6s %-11s %12s %16s %12s\n' "$r" "$name" "$ops" "$ns" "$run"
    echo "$name $ops $ns $run" >>"$results"
  done
done
echo "median over $rounds rounds:"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
base = med("none", 1)
for name in ("none", "offcputime", "aitrace"):
    ops, ns, run = med(name, 1), med(name, 2), med(name, 3)
    print(f"  {name:11} {ops:12.0f} ops/s  slowdown {100 * (1 - ops / base):5.1f}%  {ns:7.1f} BPF ns/switch  {run:6.1f} ns/run")
PY

# Start-up (wall time of a whole run around `true`) and maximum RSS of aitrace sched.
startup() {  # startup BIN -> "median_s median_rss_kb"
  local i
  for i in $(seq 9); do
    rm -f "$work/startup.txt"
    /usr/bin/time -f '%e %M' "$1" sched -o "$work/startup.txt" -- true 2>&1 >/dev/null | tail -n1
  done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
print(statistics.median(float(r[0]) for r in rows), int(statistics.median(int(r[1]) for r in rows)))'
}
# Private (RssAnon) and file-backed (RssFile: the binary's pages) memory of a running sched.
memory() {  # memory BIN -> "RssAnon KiB, RssFile KiB" 1.2 s into a 2 s run
  local pid m
  "$1" sched -d 2 -o "$work/memory.txt" >/dev/null 2>&1 &
  pid=$!
  sleep 1.2
  m=$(awk '/^RssAnon|^RssFile/ {printf "%s %s KiB  ", $1, $2}' /proc/"$pid"/status)
  wait "$pid" || true
  rm -f "$work/memory.txt"
  echo "$m"
}
echo "aitrace sched -o FILE -- true, median of 9: wall s, max RSS KiB; then a running sched's memory"
for bin in "$aitrace" ${base:+"$base"}; do
  echo "  $bin: $(startup "$bin"); $(memory "$bin")"
done
