// Hidden `aitrace sched-trace`: the EEVDF trace on its own (debugging, benchmarks); users get the
// same through `aitrace sched --eevdf / --trace FILE`.
#include "aitrace/driver/registration.hpp"
#include "aitrace/eevdf/eevdf_options.hpp"

#include "aitrace/driver/driver.hpp"
#include "aitrace/eevdf/sched_trace.hpp"

namespace aitrace {
namespace {

struct Options {
  CommonOptions common;
  TargetOptions targets;
  EevdfCliOptions eevdf;
};

void add_commands(CLI::App& app, const CommandContext& ctx) {
  auto opts = std::make_shared<Options>();
  // An empty group keeps it out of --help.
  auto* cmd = app.add_subcommand("sched-trace", "EEVDF trace only (debugging; see 'sched --eevdf')")->group("");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  add_eevdf_options(cmd, opts->eevdf);
  cmd->callback([opts, exit_code = ctx.exit_code] {
    auto trace = sched_trace_options(opts->eevdf);
    if (!trace) {
      *exit_code = report_error(trace.error());
      return;
    }
    std::vector<std::unique_ptr<Collector>> cs;
    cs.push_back(make_eevdf_tracer({*trace, true, true}));
    *exit_code = run_collectors({opts->common, opts->targets}, cs);
  });
}

}  // namespace

CollectorEntry eevdf_collector_entry() { return {"eevdf", add_commands, eevdf_tracepoints}; }

}  // namespace aitrace
