#!/usr/bin/env bash
# Cost of aitrace's trace mode against `perf sched record` (linux-perf), interleaved on the same
# pinned workload (`taskset -c CPU perf bench sched pipe -l LOOPS`). Per tracer and round:
#   - ops/s of the workload, and its slowdown against an untraced run of the same round
#   - trace bytes per context switch: the size of the trace file / the machine's context
#     switches in the window (/proc/stat ctxt; both tracers record the whole system)
#   - tracer CPU per switch, two parts over the same switches:
#     - process: the tracer process's utime + stime over its whole life (start-up, run, final
#       drain and write; GNU time's %U + %S);
#     - in the workload: what the tracer's hooks add to the CPU time of the traced workload
#       itself (its utime + stime, GNU time, against the untraced run of the same round). Both
#       tracers do their kernel-side work there, in the context of the switching task: aitrace's
#       BPF programs, perf's copies of each event into its ring. It is measured the same way for
#       both, so neither tracer's kernel side is left out of its account.
#     The run_time_ns of aitrace's BPF programs (kernel.bpf_stats_enabled=1; perf holds none) is
#     printed too: it is the part of aitrace's in-workload time that BPF stats can see.
#   - lost records: aitrace's `trace.lost` (JSON), perf's LOST events (`perf report --stats`)
# Needs root, bpftool and perf (AITRACE_SETUP_BENCH=1 scripts/setup) and a built aitrace.
#
#   bench/trace_overhead.sh [ROUNDS] [LOOPS]    (defaults: 5 rounds, 100000 pipe loops)
#   AITRACE_BENCH_TRACERS="none perf aitrace-trace" picks the tracers (default: all four).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
rounds=${1:-5}
loops=${2:-100000}
cpu=${AITRACE_BENCH_CPU:-0}
source "$root/bench/lib/bpf_cost.sh"

for tool in bpftool perf taskset /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "trace_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $aitrace ]] || { echo "trace_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "trace_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }

bpf_cost_begin

# workload -> "ops/s cpu_s": the pinned workload's rate and its own CPU time (both processes of the
# pipe pair: perf bench waits for its child, so GNU time counts it).
workload() {
  local ops
  ops=$(/usr/bin/time -o "$work/workload.time" -f '%U %S' taskset -c "$cpu" perf bench sched pipe -l "$loops" 2>/dev/null |
    awk '/ops\/sec/ {print $1}')
  echo "$ops $(awk '{print $1 + $2}' "$work/workload.time")"
}

# start_tracer NAME: in the background under GNU time (its CPU goes to $work/NAME.time); waits
# until it records. tracer_pid is time's child, the tracer itself.
start_tracer() {
  local name=$1 out=$work/$1.trace
  rm -f "$out" "$work/$name.time" "$work/$name.err"
  case $name in
    aitrace-trace) /usr/bin/time -o "$work/$name.time" -f '%U %S' \
        "$aitrace" sched --json --trace "$out" -o "$work/$name.json" 2>"$work/$name.err" & ;;
    aitrace-eevdf-trace) /usr/bin/time -o "$work/$name.time" -f '%U %S' \
        "$aitrace" sched --eevdf --json --trace "$out" -o "$work/$name.json" 2>"$work/$name.err" & ;;
    perf) /usr/bin/time -o "$work/$name.time" -f '%U %S' perf sched record -o "$out" >/dev/null 2>"$work/$name.err" & ;;
  esac
  time_pid=$!
  local i
  for i in $(seq 200); do
    sleep 0.05
    tracer_pid=$(pgrep -P "$time_pid" | head -1 || true)
    [[ -n $tracer_pid ]] || continue
    if [[ $name == perf ]]; then
      # perf has its events open once its output file has a header.
      [[ -s $out ]] && break
    else
      grep -q '^aitrace: tracing' "$work/$name.err" && break
    fi
  done
  [[ -n $tracer_pid ]] || { echo "trace_overhead: $name did not start" >&2; exit 1; }
  sleep 0.5
  mapfile -t tracer_progs < <(held_prog_ids "$tracer_pid")
}

lost_records() {  # NAME -> lost records of the run
  if [[ $1 == perf ]]; then
    perf report -i "$work/perf.trace" --stats 2>/dev/null | awk '/LOST events/ {n += $NF} END {print n + 0}'
  else
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trace"]["lost"])' "$work/$1.json"
  fi
}

measure() {  # NAME -> "ops switches bytes_per_switch cpu_ns_per_switch bpf_ns_per_switch lost workload_cpu_s"
  local name=$1 ops wcpu c0 c1 s0 s1
  if [[ $name == none ]]; then
    read -r ops wcpu <<<"$(workload)"
    echo "$ops 0 0 0 0 0 $wcpu"
    return
  fi
  sysctl -q kernel.bpf_stats_enabled=1  # another benchmark on a shared machine may have reset it
  start_tracer "$name"
  s0=0 s1=0
  ((${#tracer_progs[@]})) && read -r s0 _ <<<"$(prog_stats "${tracer_progs[@]}")"
  c0=$(ctxt)
  read -r ops wcpu <<<"$(workload)"
  c1=$(ctxt)
  ((${#tracer_progs[@]})) && read -r s1 _ <<<"$(prog_stats "${tracer_progs[@]}")"
  kill -INT "$tracer_pid"
  wait "$time_pid" || true
  tracer_pid=
  sleep 1  # programs are freed asynchronously (RCU)
  local bytes cpu_s lost
  bytes=$(stat -c %s "$work/$name.trace")
  cpu_s=$(tail -1 "$work/$name.time" | awk '{print $1 + $2}')  # after a "Command terminated by signal" line
  lost=$(lost_records "$name")
  python3 -c "
c = max($c1 - $c0, 1)
print('$ops', c, round($bytes / c, 1), round($cpu_s * 1e9 / c, 1), round(($s1 - $s0) / c, 1), '$lost', '$wcpu')"
}

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: taskset -c $cpu perf bench sched pipe -l $loops; $rounds rounds, tracers interleaved"
printf '%-6s %-20s %10s %10s %12s %14s %14s %8s %12s\n' round tracer ops/s switches bytes/switch cpu_ns/switch bpf_ns/switch lost workload_cpu
results=$work/results
for r in $(seq "$rounds"); do
  order=${AITRACE_BENCH_TRACERS:-"none perf aitrace-trace aitrace-eevdf-trace"}
  # Each round starts one tracer later, so no tracer always follows the same one.
  read -ra names <<<"$order"
  k=$(((r - 1) % ${#names[@]}))
  for name in "${names[@]:k}" "${names[@]:0:k}"; do
    read -r ops sw bps cps bps_bpf lost wcpu <<<"$(measure "$name")"
    printf '%-6s %-20s %10s %10s %12s %14s %14s %8s %12s\n' "$r" "$name" "$ops" "$sw" "$bps" "$cps" "$bps_bpf" "$lost" "$wcpu"
    echo "$name $ops $bps $cps $bps_bpf $lost $r $sw $wcpu" >>"$results"
  done
done
echo "median over $rounds rounds (tracer CPU = process + in the workload; BPF: aitrace's programs' run time):"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
base = med("none", 1) if any(r[0] == "none" for r in rows) else None
untraced = {r[6]: float(r[8]) for r in rows if r[0] == "none"}  # round -> the workload's CPU s
def in_workload(r):  # ns per switch the tracer added to the workload's own CPU time, this round
    return (float(r[8]) - untraced[r[6]]) * 1e9 / float(r[7]) if r[6] in untraced else float("nan")
for name in dict.fromkeys(r[0] for r in rows):
    if name == "none":
        print(f"  {name:20} {med(name, 1):10.0f} ops/s")
        continue
    ops = med(name, 1)
    slow = f"{100 * (1 - ops / base):5.1f}%" if base else "    -"
    mine = [r for r in rows if r[0] == name]
    ctx = statistics.median(in_workload(r) for r in mine)
    cpu = statistics.median(float(r[3]) + in_workload(r) for r in mine)
    lost = sum(int(float(r[5])) for r in mine)
    print(f"  {name:20} {ops:10.0f} ops/s  slowdown {slow}  {med(name, 2):6.1f} bytes/switch  "
          f"{cpu:7.1f} tracer ns/switch ({med(name, 3):.1f} process + {ctx:.1f} in the workload; "
          f"BPF {med(name, 4):.1f})  {lost} lost")
PY
