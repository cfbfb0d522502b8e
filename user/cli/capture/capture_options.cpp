#include "capture_options.hpp"

namespace aitrace {
namespace {

Result<uint64_t> threshold(const std::string& text, const char* option) {
  if (text.empty()) return uint64_t{0};
  auto d = parse_duration(text, option, std::chrono::microseconds(1));
  if (!d) return d.error();
  return static_cast<uint64_t>(d->count());
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
  cmd->add_flag("-v,--verbose", o.common.verbose, "Show libbpf and hook-selection messages");
  cmd->add_option("--hook", o.common.hook, "Try this hook type first (tp_btf, raw_tp, tracepoint)")->group("");
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
  if (o.common.duration.empty()) o.common.duration = "30s";
  if (o.common.interval.empty()) o.common.interval = "1s";
  return c;
}

}  // namespace aitrace
