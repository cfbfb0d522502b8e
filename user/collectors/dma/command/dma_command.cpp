// `aitrace dma`: DMA mappings, IOMMU, swiotlb bounce buffers and dma-fence waits per device.
#include "aitrace/driver/registration.hpp"

#include "aitrace/dma/dma.hpp"
#include "aitrace/dma/dma_tracer.hpp"
#include "aitrace/driver/driver.hpp"

#include <fmt/format.h>

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

void add_commands(CLI::App& app, const CommandContext& ctx) {
  auto* cmd = app.add_subcommand(
      "dma", "DMA mappings, IOMMU, swiotlb bounce buffers and dma-fence waits per device (Linux 6.12+ dma events)");
  auto opts = std::make_shared<DmaOptions>();
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->footer(
      "Targets (-p/-t/--comm/--cgroup/-- CMD) filter dma-fence waits (the waiting task). DMA map, sync, swiotlb\n"
      "and IOMMU events run in whatever task the driver happens to be in, so they are always system-wide.");
  cmd->callback([opts, exit_code = ctx.exit_code] {
    auto spec = target_spec(opts->targets);
    if (!spec) {
      *exit_code = report_error(spec.error());
      return;
    }
    std::vector<std::unique_ptr<Collector>> cs;
    cs.push_back(make_dma_tracer({filter_text(*spec)}));
    *exit_code = run_collectors({opts->common, opts->targets, std::move(*spec)}, cs);
  });
}

}  // namespace

CollectorEntry dma_collector_entry() { return {"dma", add_commands, dma_tracepoints}; }

}  // namespace aitrace
