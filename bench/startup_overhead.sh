#!/usr/bin/env bash
# Start-up time and peak memory of `aitrace sched` (default mode) beside libbpf-tools' runqlat.
# Per round, each tool is started, timed from exec to its readiness line (aitrace: "aitrace:
# tracing" on stderr, printed once every hook is attached; runqlat: "Tracing" on stdout, printed
# after its attach, line-buffered through stdbuf), left running 0.2 s, stopped with SIGINT, and
# its peak RSS (VmHWM, the child's ru_maxrss from wait4) taken. Tools alternate within a round;
# medians over the rounds. Needs root and a built aitrace. Not a test: record the numbers with
# the machine in docs/benchmarks.md.
#
#   bench/startup_overhead.sh [ROUNDS]      (default: 11)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
aitrace=${AITRACE_BIN:-${AITRACE_BUILD_DIR:-$root/build}/aitrace}
runqlat=${AITRACE_RUNQLAT:-/usr/sbin/runqlat}
rounds=${1:-11}
[[ -x $aitrace ]] || { echo "startup_overhead: $aitrace not built (scripts/build)" >&2; exit 1; }
[[ -x $runqlat ]] || { echo "startup_overhead: $runqlat not found (libbpf-tools)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "startup_overhead: needs root" >&2; exit 1; }
echo "machine: $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rounds" "$aitrace" "$runqlat" <<'PY'
import os, signal, statistics, subprocess, sys, time

def run(cmd, stream, ready):
    """ms from exec to the readiness line, and the peak RSS in MB."""
    # The kernel frees the previous tool's maps and programs after it exits (RCU callbacks and
    # workqueues, on the other CPU): started at once, aitrace took 67-82 ms in the rounds where it
    # followed runqlat and 48-49 ms where it followed itself (2026-12-06, 2 CPUs).
    time.sleep(1.0)
    t0 = time.monotonic()
    pipe, null = subprocess.PIPE, subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=pipe if stream == "out" else null, stderr=pipe if stream == "err" else null)
    f = p.stdout if stream == "out" else p.stderr
    seen, t1 = b"", None
    while chunk := os.read(f.fileno(), 4096):
        seen += chunk
        if ready in seen:
            t1 = time.monotonic()
            break
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    while os.read(f.fileno(), 65536):
        pass
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if t1 is None:
        sys.exit(f"startup_overhead: {cmd[0]} exited without its readiness line (status {p.returncode})")
    return (t1 - t0) * 1000, usage.ru_maxrss / 1024

rounds, aitrace, runqlat = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tools = {
    "aitrace sched": ([aitrace, "sched"], "err", b"aitrace: tracing"),
    "runqlat": (["stdbuf", "-oL", runqlat], "out", b"Tracing"),
}
results = {name: [] for name in tools}
for r in range(rounds):
    order = list(tools) if r % 2 == 0 else list(reversed(tools))
    for name in order:
        results[name].append(run(*tools[name]))
print(f"{'tool':14} {'start-up ms (median)':>21} {'peak RSS MB (median)':>21}   rounds (ms/MB)")
for name, v in results.items():
    ms = statistics.median(x[0] for x in v)
    mb = statistics.median(x[1] for x in v)
    print(f"{name:14} {ms:21.1f} {mb:21.1f}   " + " ".join(f"{a:.0f}/{b:.1f}" for a, b in v))
PY
