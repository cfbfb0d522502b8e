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
