#!/usr/bin/env bash
# What `aitrace serve` costs between scrapes, beside `aitrace sched` doing the same collection:
# both run with `-i 1s --by process` (one map read per second, sched printing a report each time,
# serve adding deltas to its store) on the same workload, back to back, swapping places every
# round; nothing scrapes serve. Reports per tracer:
#   - userspace CPU: utime + stime of the tracer process (/proc/PID/stat) over the workload, in
#     ms per second of wall time;
#   - BPF CPU: run_time_ns of the programs it holds (kernel.bpf_stats), in ms per second;
#   - the workload's own rate.
# serve also runs the migrate and dma collectors; their programs are in its BPF time.
# Workload: `perf bench sched messaging -p -g G -l L` repeated for SECONDS (processes talking
# over pipes: many context switches, G*40 processes each time, so the group maps keep growing).
#
#   bench/serve_collect_overhead.sh [ROUNDS] [SECONDS]   (or scripts/bench serve_collect; defaults: 3 rounds of 10 s)
# Prints a markdown table of the medians for docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
rounds=${1:-3}
secs=${2:-10}
groups=${AITRACE_BENCH_GROUPS:-2}
loops=${AITRACE_BENCH_LOOPS:-200}
source "$root/bench/lib/bpf_cost.sh"

for tool in bpftool perf python3; do
  command -v "$tool" >/dev/null || { echo "serve_collect_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $aitrace ]] || { echo "serve_collect_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "serve_collect_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }
"$aitrace" serve --listen x 2>&1 | grep -q 'not in this static build' &&
  { echo "serve_collect_overhead: $aitrace is a static build without serve" >&2; exit 1; }

bpf_cost_begin
hz=$(getconf CLK_TCK)

# Runs the workload for $secs seconds; prints how many messaging runs completed.
workload() {
  local end=$((SECONDS + secs)) n=0
  while ((SECONDS < end)); do
    perf bench sched messaging -p -g "$groups" -l "$loops" >/dev/null 2>&1
    n=$((n + 1))
  done
  echo "$n"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_tracer() {
  : >"$work/$1.err"
  case $1 in
    sched) "$aitrace" sched -i 1s --by process -o "$work/sched.txt" >/dev/null 2>"$work/sched.err" & ;;
    serve) "$aitrace" serve --listen "127.0.0.1:$(free_port)" -i 1s --by process >/dev/null 2>"$work/serve.err" & ;;
  esac
  tracer_pid=$!
  wait_for_programs "$1" 1 "$work/$1.err"
}

measure() {  # measure NAME -> "runs user_ms_per_s bpf_ms_per_s"
  local name=$1 t0 t1 b0 b1 w0 w1 runs
  start_tracer "$name"
  read -r b0 _ <<<"$(prog_stats "${tracer_progs[@]}")"
  t0=$(cpu_ticks "$tracer_pid")
  w0=$(date +%s.%N)
  runs=$(workload)
  w1=$(date +%s.%N)
  t1=$(cpu_ticks "$tracer_pid")
  read -r b1 _ <<<"$(prog_stats "${tracer_progs[@]}")"
  stop_tracer
  python3 -c "w=$w1-$w0; print($runs, round(($t1-$t0)*1000/$hz/w, 2), round(($b1-$b0)/1e6/w, 2))"
}

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: perf bench sched messaging -p -g $groups -l $loops, repeated for $secs s; $rounds rounds"
printf '%-6s %-6s %10s %16s %16s\n' round tracer runs user_ms/s bpf_ms/s
results=$work/results
for r in $(seq "$rounds"); do
  order="sched serve"
  ((r % 2 == 0)) && order="serve sched"
  for name in $order; do
    read -r runs user bpf <<<"$(measure "$name")"
    printf '%-6s %-6s %10s %16s %16s\n' "$r" "$name" "$runs" "$user" "$bpf"
    echo "$name $runs $user $bpf" >>"$results"
  done
done
echo
echo "| tracer | workload runs in ${secs} s | userspace CPU (ms/s) | BPF CPU (ms/s) |"
echo "|---|---|---|---|"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for name, label in (("sched", "`aitrace sched -i 1s --by process`"), ("serve", "`aitrace serve -i 1s --by process`")):
    med = lambda i: statistics.median(float(r[i]) for r in rows if r[0] == name)
    print(f"| {label} | {med(1):.0f} | {med(2):.2f} | {med(3):.2f} |")
PY
