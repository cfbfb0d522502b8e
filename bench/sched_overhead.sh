#!/usr/bin/env bash
# Kernel-side cost of `aitrace sched` vs a bpftrace run-queue-latency script (runqlat-style),
# measured back to back on the same switch-heavy workload: `perf bench sched pipe` pinned to one
# CPU. Reports, per tracer:
#   - BPF ns per context switch: sum of run_time_ns of the tracer's programs (kernel.bpf_stats)
#     divided by the context switches of the whole machine in that window (/proc/stat ctxt)
#   - BPF ns per program run (run_time_ns / run_cnt)
#   - the workload's ops/s and its slowdown against an untraced run
# Needs root, bpftool, bpftrace and perf (AITRACE_SETUP_BENCH=1 scripts/setup), and a built
# aitrace (scripts/build). Not a test: numbers depend on the machine; record them in
# docs/benchmarks.md with the machine they came from.
#
#   bench/sched_overhead.sh [ROUNDS] [LOOPS]      (defaults: 3 rounds, 300000 pipe loops)
#   AITRACE_BENCH_TRACERS="none aitrace aitrace-slower" picks the tracers (default: all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
rounds=${1:-3}
loops=${2:-300000}
cpu=${AITRACE_BENCH_CPU:-0}

for tool in bpftool bpftrace perf taskset; do
  command -v "$tool" >/dev/null || { echo "sched_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $aitrace ]] || { echo "sched_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "sched_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }

work=$(mktemp -d)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
tracer_pid=
cleanup() {
  [[ -n $tracer_pid ]] && kill -INT "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null || true
  sysctl -q kernel.bpf_stats_enabled="$old_stats" || true
  rm -rf "$work"
}
trap cleanup EXIT
sysctl -q kernel.bpf_stats_enabled=1

cat >"$work/runqlat.bt" <<'EOF'
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  delete(@qtime[args->next_pid]);
}
EOF

# "<sum run_time_ns> <sum run_cnt>" of the given program ids
prog_stats() {
  bpftool -j prog show | python3 -c '
import json, sys
ids = set(int(x) for x in sys.argv[1:])
t = c = 0
for p in json.load(sys.stdin):
    if p["id"] in ids:
        t += p.get("run_time_ns", 0); c += p.get("run_cnt", 0)
print(t, c)' "$@"
}
ctxt() { awk '/^ctxt/ {print $2}' /proc/stat; }
workload_ops() { taskset -c "$cpu" perf bench sched pipe -l "$loops" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }

# Program ids the tracer process holds (from its fds' fdinfo), so programs other tools load
# meanwhile on a shared machine are never counted.
held_prog_ids() { grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u; }

# start_tracer NAME: starts it in the background and waits until its programs are attached.
start_tracer() {
  local i ids want
  case $1 in
    aitrace) "$aitrace" sched -o "$work/aitrace.txt" >/dev/null 2>"$work/aitrace.err" & want=7 ;;
    # The run queue's clock instead of a clock read (schedstat's view): what the wall clock costs.
    aitrace-rq) "$aitrace" sched --clock rq -o "$work/aitrace-rq.txt" >/dev/null 2>"$work/aitrace-rq.err" & want=7 ;;
    # --slower: a clock read and a per-CPU stamp at every switch, a compare per sample, and a
    # ring record for each wait over 5 ms (none in this workload: the cost of the option itself).
    aitrace-slower) "$aitrace" sched --slower 5ms -o "$work/slower.txt" >/dev/null 2>"$work/slower.err" & want=7 ;;
    # --slower 1us: nearly every wait a ring record (the worst case).
    aitrace-slow1us) "$aitrace" sched --slower 1us --slower-keep 0 -o "$work/slow1us.txt" >/dev/null 2>"$work/slow1us.err" & want=7 ;;
    # --eevdf adds the EEVDF trace's 4 programs and its ring-buffer records.
    aitrace-eevdf) "$aitrace" sched --eevdf -o "$work/eevdf.txt" >/dev/null 2>"$work/eevdf.err" & want=11 ;;
    bpftrace) bpftrace "$work/runqlat.bt" >"$work/bpftrace.txt" 2>&1 & want=2 ;;
  esac
  tracer_pid=$!
  for i in $(seq 200); do
    sleep 0.05
    mapfile -t ids < <(held_prog_ids "$tracer_pid")
    if (( ${#ids[@]} >= want )); then
      sleep 0.5  # let the last attach land
      mapfile -t tracer_progs < <(held_prog_ids "$tracer_pid")
      return 0
    fi
  done
  echo "sched_overhead: $1 did not start" >&2
  exit 1
}
# Programs and perf events of a stopped tracer are freed asynchronously (RCU): let that finish
# before the next measurement.
stop_tracer() { kill -INT "$tracer_pid"; wait "$tracer_pid" || true; tracer_pid=; sleep 2; }

measure() {  # measure NAME -> "ops ns_per_switch ns_per_run switches"
  local name=$1 ops c0 c1 s0 s1
  if [[ $name == none ]]; then
    ops=$(workload_ops)
    echo "$ops 0 0 0"
    return
  fi
  start_tracer "$name"
  read -r s0 _ <<<"$(prog_stats "${tracer_progs[@]}")"
  local n0; read -r _ n0 <<<"$(prog_stats "${tracer_progs[@]}")"
  c0=$(ctxt)
  ops=$(workload_ops)
  c1=$(ctxt)
  local n1; read -r s1 n1 <<<"$(prog_stats "${tracer_progs[@]}")"
  stop_tracer
  python3 -c "import sys; t=$s1-$s0; n=$n1-$n0; c=$c1-$c0; print('$ops', round(t/max(c,1),1), round(t/max(n,1),1), c)"
}

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: taskset -c $cpu perf bench sched pipe -l $loops; $rounds rounds, tracers back to back"
printf '%-6s %-13s %12s %16s %14s %12s\n' round tracer ops/s bpf_ns/switch bpf_ns/run switches
# The tracers swap places every round, so drift on a shared machine hits both alike.
results=$work/results
for r in $(seq "$rounds"); do
  order=${AITRACE_BENCH_TRACERS:-"none bpftrace aitrace aitrace-rq aitrace-eevdf aitrace-slower aitrace-slow1us"}
  (( r % 2 == 0 )) && order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ')
  for name in $order; do
    read -r ops ns run sw <<<"$(measure "$name")"
    printf '%-6s %-13s %12s %16s %14s %12s\n' "$r" "$name" "$ops" "$ns" "$run" "$sw"
    echo "$name $ops $ns $run" >>"$results"
  done
done
echo "median over $rounds rounds:"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
base = med("none", 1)
for name in dict.fromkeys(r[0] for r in rows):
    ops, ns, run = med(name, 1), med(name, 2), med(name, 3)
    print(f"  {name:13} {ops:12.0f} ops/s  slowdown {100 * (1 - ops / base):5.1f}%  {ns:7.1f} BPF ns/switch  {run:6.1f} ns/run")
PY
