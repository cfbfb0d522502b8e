# Interleaved rounds for the cost benchmarks (source it after bpf_cost.sh).

# round_order ROUND NAME...: the names in order on odd rounds and reversed on even ones, so drift
# on a shared machine (another job starting, a CPU clocking down) hits every tracer alike.
round_order() {
  local r=$1
  shift
  if ((r % 2 == 0)); then
    local i
    for ((i = $#; i >= 1; i--)); do printf '%s ' "${!i}"; done
  else
    printf '%s ' "$@"
  fi
}

# measure_bpf_cost NAME CMD...: with the tracer NAME already started (its programs in
# tracer_progs), runs CMD and prints "<BPF ns per context switch> <BPF ns per run> <switches>":
# the tracer's run_time_ns over the machine's context switches (/proc/stat ctxt) in that window.
measure_bpf_cost() {
  local s0 n0 s1 n1 c0 c1
  shift
  read -r s0 n0 <<<"$(prog_stats "${tracer_progs[@]}")"
  c0=$(ctxt)
  "$@" >/dev/null
  c1=$(ctxt)
  read -r s1 n1 <<<"$(prog_stats "${tracer_progs[@]}")"
  python3 -c "t=$s1-$s0; n=$n1-$n0; c=$c1-$c0; print(round(t/max(c,1),1), round(t/max(n,1),1), c)"
}
