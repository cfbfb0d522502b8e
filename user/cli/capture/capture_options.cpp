#include "capture_options.hpp"

#include <charconv>

namespace aitrace {
namespace {

Result<uint64_t> threshold(const std::string& text, const char* option) {
  if (text.empty()) return uint64_t{0};
  auto d = parse_duration(text, option, std::chrono::microseconds(1));
  if (!d) return d.error();
  return static_cast<uint64_t>(d->count());
}

// "256M", "1G", "65536": at least 32 MiB (aitrace itself, its maps' user copies and the snapshots).
Result<uint64_t> parse_bytes(const std::string& t) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  const std::string unit(p, t.data() + t.size());
  const uint64_t scale = unit.empty() ? 1 : unit == "K" ? 1ull << 10 : unit == "M" ? 1ull << 20 : unit == "G" ? 1ull << 30 : 0;
  if (ec != std::errc() || p == t.data() || !scale || v > (1ull << 40) / scale)
    return make_error(ErrorKind::usage, "invalid --memory-limit '{}': expected a size like 256M or 1G", t);
  if (v * scale < (32ull << 20)) return make_error(ErrorKind::usage, "--memory-limit {} is below 32M", t);
  return v * scale;
}

}  // namespace

void add_capture_options(CLI::App* cmd, CaptureOptions& o) {
  cmd->add_option("-d,--duration", o.common.duration, "How long to capture (default 30s)")->check(non_empty_value());
  cmd->add_option("-i,--interval", o.common.interval,
                  "Interval of the p99 series in the report (default 1s)")
      ->check(non_empty_value());
  cmd->add_option("-o,--output", o.output, "The bundle's directory (created; an existing one is refused)")
      ->required()
      ->check(non_empty_value());
  cmd->add_flag("--force", o.force, "Replace an existing bundle directory");
  cmd->add_flag("--trace", o.trace, "Also write a Perfetto trace of every switch and wakeup (trace.perfetto-trace)");
  cmd->add_option("--by", o.by, "Group sched's histograms by thread, process (default), cgroup, comm or none");
  cmd->add_option("--top", o.top, "Groups plotted and tabled in report.html (default 10)");
  cmd->add_option("--slower", o.slower, "Slow events: run-queue waits of at least DURATION (default 1ms)")
      ->check(non_empty_value());
  cmd->add_option("--slower-offcpu", o.slower_offcpu, "Slow events: sleeps and blocks of at least DURATION (default: off)")
      ->check(non_empty_value());
  cmd->add_option("--flight-recorder", o.flight_recorder,
                  "Run until stopped, keeping the last WINDOW (e.g. 60s) in memory; SIGUSR1 or a --trigger dumps it "
                  "into DIR/<UTC time>/. Memory: at most WINDOW/-i+1 snapshots, and the RSS stays under --memory-limit; "
                  "with --trace, the trace records of the window up to a quarter of --memory-limit (the oldest go first)")
      ->check(non_empty_value());
  cmd->add_option("--trigger", o.triggers,
                  "Dump when EXPR holds for an interval: sched.METRIC.STAT>VALUE (runq_wakeup, runq_preempt, oncpu, "
                  "offcpu_sleep, offcpu_block; p50, p90, p99, p999, max, count) or migrate.pages|pages_failed|calls>N; "
                  "repeatable")
      ->check(non_empty_value());
  cmd->add_option("--max-dumps", o.max_dumps, "Flight recorder: dumps at most (default 10)");
  cmd->add_option("--min-gap", o.min_gap, "Flight recorder: a trigger dumps at most once per this time (default 10s)")
      ->check(non_empty_value());
  cmd->add_option("--memory-limit", o.memory_limit,
                  "Flight recorder: the process's RSS bound; past it the oldest snapshots go (default 256M)")
      ->check(non_empty_value());
  cmd->add_flag("-v,--verbose", o.common.verbose, "Show libbpf and hook-selection messages");
  cmd->add_option("--hook", o.common.hook, "Try this hook type first (tp_btf, raw_tp, tracepoint)")->group("");
  add_bpf_token_option(cmd, o.common.bpf_token);
  add_target_options(cmd, o.targets);
}

Result<CaptureConfig> capture_config(CaptureOptions& o) {
  CaptureConfig c;
  auto by = parse_sched_group_by(o.by);
  if (!by) return make_error(ErrorKind::usage, "invalid --by '{}': expected thread, process, cgroup, comm or none", o.by);
  c.group_by = *by;
  if (o.top == 0) return make_error(ErrorKind::usage, "--top must be a positive number of groups");
  auto slower = threshold(o.slower, "--slower");
  if (!slower) return slower.error();
  c.slower_ns = *slower;
  auto slower_offcpu = threshold(o.slower_offcpu, "--slower-offcpu");
  if (!slower_offcpu) return slower_offcpu.error();
  c.slower_offcpu_ns = *slower_offcpu;
  if (o.common.interval.empty()) o.common.interval = "1s";
  auto interval = parse_duration(o.common.interval, "-i");
  if (!interval) return interval.error();
  c.interval = *interval;
  if (o.flight_recorder.empty()) {
    if (!o.triggers.empty()) return make_error(ErrorKind::usage, "--trigger needs --flight-recorder WINDOW");
    if (o.common.duration.empty()) o.common.duration = "30s";
    return c;
  }
  c.flight_recorder = true;
  auto window = parse_duration(o.flight_recorder, "--flight-recorder");
  if (!window) return window.error();
  c.window = *window;
  if (c.window < c.interval)
    return make_error(ErrorKind::usage, "--flight-recorder {} is shorter than -i {}", o.flight_recorder, o.common.interval);
  // The snapshot ring's length: the memory bound is per snapshot times this.
  if (c.window / c.interval > 600)
    return make_error(ErrorKind::usage, "--flight-recorder {} holds more than 600 intervals of -i {}; give a longer -i",
                      o.flight_recorder, o.common.interval);
  for (const auto& text : o.triggers) {
    auto t = parse_trigger(text);
    if (!t) return t.error();
    c.triggers.push_back(std::move(*t));
  }
  if (o.max_dumps == 0) return make_error(ErrorKind::usage, "--max-dumps must be at least 1");
  auto gap = parse_duration(o.min_gap, "--min-gap", std::chrono::nanoseconds(0));
  if (!gap) return gap.error();
  c.min_gap = *gap;
  auto limit = parse_bytes(o.memory_limit);
  if (!limit) return limit.error();
  c.memory_limit = *limit;
  if (o.trace) c.trace_bytes = c.memory_limit / 4;
  return c;
}

}  // namespace aitrace
