#!/usr/bin/env bash
# Soak: the RSS of `aitrace sched --eevdf` (whole host, --by process) over a long run while
# threads come and go all the time (build/workloads/thread_swarm storm, 50 alive at a time, in a
# loop). Prints aitrace's VmRSS every STEP seconds and, at the end, the least-squares slope of RSS
# over time after the first quarter (the warm-up: rings, maps and allocator arenas filling) and
# before SECONDS (then aitrace builds its report, a spike of its own), in KB per minute, with the
# exited threads folded meanwhile (eevdf.exited.threads of the report).
# A flat line (slope ~0) is the goal: per-thread state is freed at a thread's last switch-out.
#
#   bench/eevdf_rss_overhead.sh [SECONDS] [STEP]      (defaults: 240 10)
#   AITRACE_BENCH_ARGS="--trace /tmp/t.pftrace" adds options to the traced command line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AITRACE_BUILD_DIR:-$root/build}
aitrace=${AITRACE_BIN:-$build/aitrace}
swarm=$build/workloads/thread_swarm
secs=${1:-240}
step=${2:-10}
[[ -x $aitrace && -x $swarm ]] || { echo "eevdf_rss_overhead: $aitrace or $swarm not built (scripts/build)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "eevdf_rss_overhead: needs root (tracing)" >&2; exit 1; }

work=$(mktemp -d)
churn_pid=
tracer_pid=
cleanup() {
  [[ -n $churn_pid ]] && kill "$churn_pid" 2>/dev/null || true
  [[ -n $tracer_pid ]] && kill -INT "$tracer_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2086  # AITRACE_BENCH_ARGS is a list of options
"$aitrace" sched --eevdf --by process --json -d "$secs" -o "$work/report.json" ${AITRACE_BENCH_ARGS:-} \
  >/dev/null 2>"$work/err" &
tracer_pid=$!
for _ in $(seq 200); do grep -q '^aitrace: tracing' "$work/err" && break; sleep 0.05; done
(while :; do "$swarm" storm 5000 50 >/dev/null; done) &
churn_pid=$!

echo "machine: $(uname -r), $(nproc) CPUs; aitrace sched --eevdf --by process -d $secs ${AITRACE_BENCH_ARGS:-}"
echo "churn: thread_swarm storm 5000 50 in a loop; RSS every ${step} s"
printf '%8s %10s\n' seconds rss_kb
samples=$work/samples
start=$(date +%s)
while kill -0 "$tracer_pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$tracer_pid"/status 2>/dev/null || true)
  [[ -n $rss ]] || break
  now=$(($(date +%s) - start))
  printf '%8s %10s\n' "$now" "$rss"
  echo "$now $rss" >>"$samples"
  sleep "$step"
done
kill "$churn_pid" 2>/dev/null || true
wait "$tracer_pid" || true
tracer_pid=
python3 - "$samples" "$work/report.json" "$secs" <<'PY'
import json, sys
pts = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
warm = float(sys.argv[3]) / 4
tail = [p for p in pts if warm <= p[0] < float(sys.argv[3])] or pts
n = len(tail)
mx = sum(p[0] for p in tail) / n
my = sum(p[1] for p in tail) / n
var = sum((p[0] - mx) ** 2 for p in tail)
slope = sum((p[0] - mx) * (p[1] - my) for p in tail) / var if var else 0.0
try:
    exited = json.load(open(sys.argv[2]))["eevdf"]["exited"]["threads"]
except (OSError, ValueError, KeyError):
    exited = "?"
print(f"RSS from {warm:.0f} s to the report: first {tail[0][1]:.0f} KB, last {tail[-1][1]:.0f} KB, "
      f"min {min(p[1] for p in tail):.0f}, max {max(p[1] for p in tail):.0f}; "
      f"slope {slope * 60:.1f} KB/min over {n} samples; exited threads folded: {exited}")
PY
