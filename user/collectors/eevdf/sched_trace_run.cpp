// The standalone driver: trace a launched command with the EEVDF trace only.
#include "aitrace/core/launcher.hpp"
#include "aitrace/eevdf/sched_trace.hpp"

namespace aitrace {

Result<SchedTraceRun> run_sched_trace(const std::vector<std::string>& argv, const SchedTraceOptions& opts,
                                      const RunOptions& run) {
  auto lc = LaunchedCommand::prepare(argv);
  if (!lc) return lc.error();
  TargetSpec spec;
  spec.follow_forks = true;
  auto targets = resolve_targets(spec);
  if (!targets) return targets.error();
  add_launched_process(*targets, static_cast<uint32_t>(lc->pid()));
  auto collector = SchedTraceCollector::open(*targets, opts);
  if (!collector) return collector.error();
  AITRACE_TRY((*collector)->attach());
  RunLoop loop(run);
  (*collector)->add_to(loop);
  loop.add_stop_fd(lc->pidfd());
  AITRACE_TRY(lc->start());
  auto reason = loop.run([&](bool final) { return (*collector)->on_tick(final); });
  if (!reason) {
    lc->terminate();
    lc->wait();
    return reason.error();
  }
  SchedTraceRun out;
  if (*reason != StopReason::stop_fd) lc->terminate();
  out.exit_code = lc->wait();
  out.summary = (*collector)->summary();
  out.stats = (*collector)->stats();
  return out;
}

}  // namespace aitrace
