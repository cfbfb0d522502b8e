# Helpers for the kernel-side cost benchmarks (source it; needs bpftool and python3).

# "<sum run_time_ns> <sum run_cnt>" of the given program ids (kernel.bpf_stats_enabled=1).
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

# Context switches of the whole machine so far.
ctxt() { awk '/^ctxt/ {print $2}' /proc/stat; }

# Program ids a process holds (from its fds' fdinfo), so programs other tools load meanwhile on
# a shared machine are never counted.
held_prog_ids() { grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u; }

# For a benchmark run as root: kernel.bpf_stats_enabled on until exit, a temporary folder in
# $work, and at exit the tracer whose pid is in $tracer_pid stopped, the setting restored and
# $work removed.
bpf_cost_begin() {
  work=$(mktemp -d)
  old_stats=$(sysctl -n kernel.bpf_stats_enabled)
  tracer_pid=
  trap bpf_cost_end EXIT
  sysctl -q kernel.bpf_stats_enabled=1
}
bpf_cost_end() {
  [[ -n $tracer_pid ]] && kill -INT "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null || true
  sysctl -q kernel.bpf_stats_enabled="$old_stats" || true
  rm -rf "$work"
}

# wait_for_programs NAME WANT [READY_FILE]: after a tracer was started in the background (its pid
# in $tracer_pid), waits until it holds WANT programs (and READY_FILE has aitrace's readiness line:
# before it, aitrace holds short-lived hook probes; after it, every program it loads is attached,
# so aitrace's tracers want 1: how many it loads depends on the host, e.g. no NUMA programs on a
# single-node one), then sets tracer_progs to their ids. Stops the tracer and exits when that does
# not happen within 10 s (the benches call this inside $(measure ...), a subshell whose exit does
# not run the EXIT trap: without the kill the tracer went on running through every later round).
wait_for_programs() {
  local i ids
  for i in $(seq 200); do
    sleep 0.05
    if [[ -n ${3:-} ]] && ! grep -q '^aitrace: tracing' "$3"; then continue; fi
    mapfile -t ids < <(held_prog_ids "$tracer_pid")
    if ((${#ids[@]} >= $2)); then
      sleep 0.5  # let the last attach land
      mapfile -t tracer_progs < <(held_prog_ids "$tracer_pid")
      return 0
    fi
  done
  echo "$(basename "$0"): $1 did not start" >&2
  kill "$tracer_pid" 2>/dev/null || true
  exit 1
}

# Programs and perf events of a stopped tracer are freed asynchronously (RCU): let that finish
# before the next measurement.
stop_tracer() { kill -INT "$tracer_pid"; wait "$tracer_pid" || true; tracer_pid=; sleep 2; }
