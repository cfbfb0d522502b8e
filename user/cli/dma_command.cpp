// `aitrace dma`: DMA mappings, IOMMU, swiotlb bounce buffers and dma-fence waits per device.
#include "aitrace/output/escape.hpp"
#include "aitrace/cli/cli.hpp"
#include "aitrace/dma/dma.hpp"
#include "aitrace/dma/dma_report.hpp"
#include "aitrace/core/launcher.hpp"
#include "commands.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>

namespace aitrace {
namespace {

struct DmaOptions {
  CommonOptions common;
  TargetOptions targets;
};

std::string filter_text(const TargetSpec& spec) {
  std::string f;
  auto add = [&](const std::string& s) { f += (f.empty() ? "" : ", ") + s; };
  if (!spec.pids.empty()) add(fmt::format("pid {}", fmt::join(spec.pids, ",")));
  if (!spec.tids.empty()) add(fmt::format("tid {}", fmt::join(spec.tids, ",")));
  if (spec.comm) add("comm " + *spec.comm);
  if (spec.cgroup) add("cgroup " + *spec.cgroup);
  if (spec.follow_forks) add("the launched command and its children");
  return f;
}

Status run_dma(const DmaOptions& o, int& exit_code) {
  AITRACE_TRY(prepare_tracing(o.common));
  auto run_opts = run_options(o.common);
  if (!run_opts) return run_opts.error();
  auto writer = ReportWriter::open(o.common);
  if (!writer) return writer.error();
  auto targets = command_targets(o.targets);
  if (!targets) return targets.error();
  std::optional<LaunchedCommand>& launched = targets->launched;

  auto collector = DmaCollector::open(DmaConfig{targets->resolved});
  if (!collector) return collector.error();
  (*collector)->attach();
  if ((*collector)->hooks().attached_count() == 0)
    return make_error(ErrorKind::unsupported,
                      "none of the dma, iommu, swiotlb or dma_fence tracepoints could be attached (Linux 6.12+ has "
                      "the dma ones); run with -v for details");
  const std::vector<DmaHookState> hooks = dma_hook_states((*collector)->hooks());
  const std::string filter = filter_text(targets->spec);

  RunLoop loop(*run_opts);
  if (launched) {
    AITRACE_TRY(launched->start());
    loop.add_stop_fd(launched->pidfd());
  }
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto last_tick = started;
  DmaSnapshot previous;
  auto stopped = loop.run([&](bool final) -> Status {
    auto snap = (*collector)->snapshot();
    if (!snap) return snap.error();
    auto now = Clock::now();
    DmaReport r{hooks, {}, 0, false, filter};
    if (final) {
      // The final report covers the whole run, whatever the interval.
      r.data = *snap;
      r.seconds = std::chrono::duration<double>(now - started).count();
    } else {
      r.data = dma_delta(*snap, previous);
      r.seconds = std::chrono::duration<double>(now - last_tick).count();
      r.interval = true;
      previous = std::move(*snap);
      last_tick = now;
    }
    std::string text = o.common.json ? json_text(dma_report_json(r)) + "\n" : dma_report_text(r);
    return final ? writer->write_final(text) : writer->write_interval(text + (o.common.json ? "" : "\n"));
  });
  if (!stopped) return stopped.error();
  if (launched) {
    launched->terminate();  // a no-op when CMD already exited; ends it when -d or Ctrl-C came first
    exit_code = launched->wait();
  }
  return {};
}

}  // namespace

void register_dma_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "dma", "DMA mappings, IOMMU, swiotlb bounce buffers and dma-fence waits per device (Linux 6.12+ dma events)");
  auto opts = std::make_shared<DmaOptions>();
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->footer(
      "Targets (-p/-t/--comm/--cgroup/-- CMD) filter dma-fence waits (the waiting task). DMA map, sync, swiotlb\n"
      "and IOMMU events run in whatever task the driver happens to be in, so they are always system-wide.");
  cmd->callback([opts, &exit_code] {
    int child_exit = 0;
    Status st = run_dma(*opts, child_exit);
    exit_code = st.ok() ? child_exit : report_error(st.error());
  });
}

}  // namespace aitrace
