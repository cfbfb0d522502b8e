// `aitrace offcpu`: where blocked time goes, as symbolized user and kernel stacks.
#include "aitrace/driver/registration.hpp"

#include "aitrace/driver/driver.hpp"
#include "aitrace/offcpu/offcpu_collector.hpp"
#include "aitrace/offcpu/offcpu_tracer.hpp"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace aitrace {
namespace {

struct OffcpuOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string state = "all";
  std::string min = "1us", max;
  int top = 10;
  bool folded = false;
  bool wakers = false;
  std::string svg;
  uint32_t stack_storage = AITRACE_OFFCPU_DEFAULT_STACKS;
  uint32_t max_keys = AITRACE_OFFCPU_DEFAULT_KEYS;
};

Result<uint32_t> parse_states(const std::string& s) {
  if (s == "sleep") return AITRACE_OFFCPU_SLEEP;
  if (s == "block") return AITRACE_OFFCPU_BLOCK;
  if (s == "all") return AITRACE_OFFCPU_STATES_ALL;
  return make_error(ErrorKind::usage, "invalid --state '{}': expected sleep (S), block (D) or all", s);
}

// --min/--max: a threshold down to nanoseconds (the driver's durations, -d and -i, start at 1 ms).
Result<uint64_t> parse_threshold(const std::string& text, const char* what) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  const std::string_view unit(p, static_cast<size_t>(text.data() + text.size() - p));
  const uint64_t scale = unit == "ns" ? 1 : unit == "us" ? 1000 : unit == "ms" ? 1000000 : unit == "s" ? 1000000000 : 0;
  if (ec != std::errc() || p == text.data() || !scale)
    return make_error(ErrorKind::usage, "invalid {} '{}': expected a whole number with ns, us, ms or s (e.g. 1ms)",
                      what, text);
  if (v > UINT64_MAX / scale) return make_error(ErrorKind::usage, "invalid {} '{}': too large", what, text);
  return v * scale;
}

Result<OffcpuTracerConfig> tracer_config(const OffcpuOptions& o) {
  OffcpuTracerConfig cfg;
  auto states = parse_states(o.state);
  if (!states) return states.error();
  cfg.bpf.states = *states;
  auto min = parse_threshold(o.min, "--min");
  if (!min) return min.error();
  cfg.bpf.min_ns = *min;
  if (!o.max.empty()) {
    auto max = parse_threshold(o.max, "--max");
    if (!max) return max.error();
    cfg.bpf.max_ns = *max;
    if (cfg.bpf.max_ns < cfg.bpf.min_ns) return make_error(ErrorKind::usage, "--max {} is below --min {}", o.max, o.min);
  }
  if (o.top <= 0) return make_error(ErrorKind::usage, "--top must be positive, got {}", o.top);
  if (o.stack_storage == 0 || o.stack_storage > AITRACE_OFFCPU_MAX_STACK_STORAGE)
    return make_error(ErrorKind::usage, "--stack-storage must be between 1 and {}, got {}",
                      AITRACE_OFFCPU_MAX_STACK_STORAGE, o.stack_storage);
  if (o.max_keys == 0) return make_error(ErrorKind::usage, "--max-keys must be positive");
  if (o.folded && o.common.json) return make_error(ErrorKind::usage, "--folded and --json are two report formats: pick one");
  cfg.bpf.stack_storage = o.stack_storage;
  cfg.bpf.max_keys = o.max_keys;
  cfg.bpf.wakers = o.wakers;
  cfg.top = static_cast<size_t>(o.top);
  cfg.folded = o.folded;
  cfg.svg_path = o.svg;
  return cfg;
}

int run_offcpu(const OffcpuOptions& o) {
  auto cfg = tracer_config(o);
  if (!cfg) return report_error(cfg.error());
  std::vector<std::unique_ptr<Collector>> cs;
  cs.push_back(make_offcpu_tracer(*cfg));
  return run_collectors({o.common, o.targets}, cs);
}

void add_commands(CLI::App& app, const CommandContext& ctx) {
  auto opts = std::make_shared<OffcpuOptions>();
  auto* cmd = app.add_subcommand("offcpu", "Where blocked time goes: off-CPU time by user and kernel stack");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->add_option("--state", opts->state, "Blocked states to record: sleep (S), block (D) or all (default: all)")
      ->check(non_empty_value());
  cmd->add_option("--min", opts->min, "Ignore off-CPU intervals shorter than this (default: 1us)")
      ->check(non_empty_value());
  cmd->add_option("--max", opts->max, "Ignore off-CPU intervals longer than this")->check(non_empty_value());
  cmd->add_option("--top", opts->top, "Stacks shown in the text and JSON reports (default: 10)");
  cmd->add_flag("--folded", opts->folded, "Report folded stacks (flamegraph.pl, speedscope), values in microseconds");
  cmd->add_flag("--wakers", opts->wakers,
                "Also record what woke each blocked task: its stacks at the wakeup (wakeuptime's view)");
  cmd->add_option("--svg", opts->svg, "Also write a flame graph of the whole run to this SVG file")
      ->check(non_empty_value());
  cmd->add_option("--stack-storage", opts->stack_storage,
                  "Stacks the kernel can keep (default: 16384), plus a quarter for stacks whose hash bucket is taken; what does not fit is counted as lost");
  cmd->add_option("--max-keys", opts->max_keys,
                  "(process, thread name, stack pair, state) totals the kernel can keep (default: 16384)");
  cmd->callback([exit_code = ctx.exit_code, opts] { *exit_code = run_offcpu(*opts); });
}

}  // namespace

CollectorEntry offcpu_collector_entry() { return {"offcpu", add_commands, offcpu_tracepoints}; }

}  // namespace aitrace
