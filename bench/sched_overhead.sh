#!/usr/bin/env bash
# Kernel-side cost of `aitrace sched` vs libbpf-tools' runqlat and a bpftrace run-queue-latency
# script (runqlat-style), measured back to back on the same switch-heavy workload: `perf bench
# sched pipe` pinned to one CPU. The floor is empty tp_btf programs on runqlat's three hooks
# (bench/empty_tp_btf.cpp). Reports, per tracer:
#   - BPF ns per context switch: sum of run_time_ns of the tracer's programs (kernel.bpf_stats)
#     divided by the context switches of the whole machine in that window (/proc/stat ctxt)
#   - BPF ns per program run (run_time_ns / run_cnt)
#   - the workload's ops/s and its slowdown against an untraced run
# and, over the rounds, aitrace's ratio to each peer (the median of the per-round ratios, so
# drift between rounds cancels) and its cost per program (what each hook's ns buy).
# Needs root, bpftool, bpftrace and perf (AITRACE_SETUP_BENCH=1 scripts/setup), and a built
# aitrace (scripts/build). Not a test: numbers depend on the machine; record them in
# docs/benchmarks.md with the machine they came from.
#
#   bench/sched_overhead.sh [ROUNDS] [LOOPS]      (defaults: 5 rounds, 300000 pipe loops)
#   AITRACE_BENCH_TRACERS="none aitrace aitrace-slower" picks the tracers (default: all);
#   AITRACE_VARIANTS="base=/other/build/aitrace ..." adds a tracer v-base per NAME=BIN: that
#   binary's default mode, in the same rounds (a before/after; bench/sched_parts_overhead.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
rounds=${1:-5}
runqlat=${AITRACE_RUNQLAT:-/usr/sbin/runqlat}
floor=${AITRACE_BUILD_DIR:-$root/build}/bench/empty_tp_btf
loops=${2:-300000}
cpu=${AITRACE_BENCH_CPU:-0}
source "$root/bench/lib/bpf_cost.sh"

for tool in bpftool bpftrace perf taskset; do
  command -v "$tool" >/dev/null || { echo "sched_overhead: $tool not found (AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
done
[[ -x $aitrace ]] || { echo "sched_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ -x $runqlat ]] || { echo "sched_overhead: $runqlat not found (libbpf-tools: AITRACE_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
[[ -x $floor ]] || { echo "sched_overhead: $floor not built (scripts/build --target empty_tp_btf)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "sched_overhead: needs root (bpf_stats_enabled, tracing)" >&2; exit 1; }

declare -A variant_bin=()
for v in ${AITRACE_VARIANTS:-}; do
  [[ -x ${v#*=} ]] || { echo "sched_overhead: variant ${v%%=*}: ${v#*=} is not executable" >&2; exit 1; }
  variant_bin[v-${v%%=*}]=${v#*=}
done

bpf_cost_begin

cat >"$work/runqlat.bt" <<'EOF'
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  delete(@qtime[args->next_pid]);
}
EOF

workload_ops() { taskset -c "$cpu" perf bench sched pipe -l "$loops" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }

# start_tracer NAME: starts it in the background and waits until its programs are attached.
start_tracer() {
  local want ready=  # ready: aitrace's stderr, where its readiness line comes
  case $1 in
    aitrace) "$aitrace" sched -o "$work/aitrace.txt" >/dev/null 2>"$work/aitrace.err" & want=1 ready="$work/aitrace.err" ;;
    # The run queue's clock instead of a clock read (schedstat's view): what the wall clock costs.
    # Another build's default mode (AITRACE_VARIANTS), for a before/after in the same rounds.
    v-*) "${variant_bin[$1]}" sched -o "$work/$1.txt" >/dev/null 2>"$work/$1.err" & want=1 ready="$work/$1.err" ;;
    aitrace-rq) "$aitrace" sched --clock rq -o "$work/aitrace-rq.txt" >/dev/null 2>"$work/aitrace-rq.err" & want=1 ready="$work/aitrace-rq.err" ;;
    # --slower: a clock read and a per-CPU stamp at every switch, a compare per sample, and a
    # ring record for each wait over 5 ms (none in this workload: the cost of the option itself).
    aitrace-slower) "$aitrace" sched --slower 5ms -o "$work/slower.txt" >/dev/null 2>"$work/slower.err" & want=1 ready="$work/slower.err" ;;
    # --slower 1us: nearly every wait a ring record (the worst case).
    aitrace-slow1us) "$aitrace" sched --slower 1us --slower-keep 0 -o "$work/slow1us.txt" >/dev/null 2>"$work/slow1us.err" & want=1 ready="$work/slow1us.err" ;;
    # --eevdf adds the EEVDF trace's 4 programs and its ring-buffer records.
    aitrace-eevdf) "$aitrace" sched --eevdf -o "$work/eevdf.txt" >/dev/null 2>"$work/eevdf.err" & want=1 ready="$work/eevdf.err" ;;
    bpftrace) bpftrace "$work/runqlat.bt" >"$work/bpftrace.txt" 2>&1 & want=2 ;;
    # libbpf-tools' runqlat: tp_btf programs on sched_wakeup, sched_wakeup_new and sched_switch.
    runqlat) "$runqlat" >"$work/runqlat.txt" 2>&1 & want=3 ;;
    # The floor: empty tp_btf programs on the same three tracepoints.
    floor) "$floor" sched_switch sched_wakeup sched_wakeup_new >"$work/floor.txt" 2>&1 & want=3 ;;
  esac
  tracer_pid=$!
  wait_for_programs "$1" "$want" "$ready"
}

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
  local p0=$work/snap0 p1=$work/snap1
  [[ $name == aitrace ]] && prog_snapshot "$p0"
  c0=$(ctxt)
  ops=$(workload_ops)
  c1=$(ctxt)
  [[ $name == aitrace ]] && prog_snapshot "$p1"
  local n1; read -r s1 n1 <<<"$(prog_stats "${tracer_progs[@]}")"
  stop_tracer
  [[ $name == aitrace ]] && per_program "$work/per_program.$name" "$p0" "$p1"
  python3 -c "import sys; t=$s1-$s0; n=$n1-$n0; c=$c1-$c0; print('$ops', round(t/max(c,1),1), round(t/max(n,1),1), c)"
}

# per_program OUT BEFORE AFTER: each program's Δrun_time_ns, Δrun_cnt and the window's Δctxt
# appended to OUT, from two `bpftool -j prog show` snapshots of the tracer's programs.
per_program() {
  python3 - "$@" "${tracer_progs[@]}" <<'PY'
import json, sys
out, before, after, *ids = sys.argv[1:]
ids = set(int(i) for i in ids)
def load(path):
    d = json.load(open(path))
    return {p["id"]: p for p in d["progs"] if p["id"] in ids}, d["ctxt"]
(b, c0), (a, c1) = load(before), load(after)
with open(out, "a") as f:
    for i, p in a.items():
        if i in b:
            f.write(f'{p["name"]} {p.get("run_time_ns", 0) - b[i].get("run_time_ns", 0)} {p.get("run_cnt", 0) - b[i].get("run_cnt", 0)} {c1 - c0}\n')
PY
}
# A snapshot for per_program: every program's stats and the machine's ctxt, in one JSON file.
prog_snapshot() { printf '{"ctxt": %s, "progs": %s}' "$(ctxt)" "$(bpftool -j prog show)" >"$1"; }

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "workload: taskset -c $cpu perf bench sched pipe -l $loops; $rounds rounds, tracers back to back"
printf '%-6s %-13s %12s %16s %14s %12s\n' round tracer ops/s bpf_ns/switch bpf_ns/run switches
# The tracers swap places every round, so drift on a shared machine hits both alike.
results=$work/results
for r in $(seq "$rounds"); do
  order=${AITRACE_BENCH_TRACERS:-"none bpftrace runqlat aitrace floor aitrace-rq aitrace-eevdf aitrace-slower aitrace-slow1us"}
  order="$order ${!variant_bin[*]}"
  (( r % 2 == 0 )) && order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ')
  for name in $order; do
    read -r ops ns run sw <<<"$(measure "$name")"
    printf '%-6s %-13s %12s %16s %14s %12s\n' "$r" "$name" "$ops" "$ns" "$run" "$sw"
    echo "$name $ops $ns $run $r" >>"$results"
  done
done
echo "median over $rounds rounds:"
python3 - "$results" "$work" <<'PY'
import collections, glob, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
base = med("none", 1) if any(r[0] == "none" for r in rows) else None
for name in dict.fromkeys(r[0] for r in rows):
    ops, ns, run = med(name, 1), med(name, 2), med(name, 3)
    slow = f"slowdown {100 * (1 - ops / base):5.1f}%" if base else "slowdown     -"
    print(f"  {name:20} {ops:12.0f} ops/s  {slow}  {ns:7.1f} BPF ns/switch  {run:6.1f} ns/run")
# Per-round ratios: each round measured the tracers back to back, so load drift cancels.
by_round = collections.defaultdict(dict)
for r in rows:
    by_round[r[4]][r[0]] = float(r[2])
for peer in ("runqlat", "bpftrace", "floor"):
    ratios = [t["aitrace"] / t[peer] for t in by_round.values() if t.get(peer) and "aitrace" in t]
    if ratios:
        print(f"  aitrace / {peer:8}: median {statistics.median(ratios):.2f} of the BPF ns per switch "
              f"(rounds {min(ratios):.2f}..{max(ratios):.2f})")
# What each of aitrace's programs costs per run and per context switch (all rounds pooled).
# Every round adds one line per program, each with that round's Δctxt.
parts = collections.defaultdict(lambda: [0, 0, 0])
for path in glob.glob(sys.argv[2] + "/per_program.aitrace"):
    for line in open(path):
        name, t, n, c = line.split()
        parts[name][0] += int(t); parts[name][1] += int(n); parts[name][2] += int(c)
if parts:
    print("  aitrace per program (all rounds pooled):")
    for name, (t, n, c) in sorted(parts.items(), key=lambda kv: -kv[1][0]):
        if n and c:
            print(f"    {name:24} {t / n:6.1f} ns/run  {n / c:5.2f} runs/switch  {t / c:6.1f} ns/switch")
PY
