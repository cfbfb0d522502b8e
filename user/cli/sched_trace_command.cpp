// Hidden `aitrace sched-trace`: the EEVDF trace on its own (debugging, benchmarks); users get the
// same through `aitrace sched --eevdf / --trace FILE`.
#include "aitrace/output/escape.hpp"
#include "aitrace/cli/cli.hpp"
#include "aitrace/core/launcher.hpp"
#include "commands.hpp"
#include "eevdf_options.hpp"

#include <optional>

namespace aitrace {
namespace {

struct Options {
  CommonOptions common;
  TargetOptions targets;
  EevdfCliOptions eevdf;
};

// exit_code: CMD's, with `-- CMD` (as for sched, migrate and dma).
Status run(const Options& o, int& exit_code) {
  AITRACE_TRY(prepare_tracing(o.common));
  auto run_opts = run_options(o.common);
  if (!run_opts) return run_opts.error();
  auto st_opts = sched_trace_options(o.eevdf);
  if (!st_opts) return st_opts.error();
  auto writer = ReportWriter::open(o.common);
  if (!writer) return writer.error();
  auto targets = command_targets(o.targets);
  if (!targets) return targets.error();
  std::optional<LaunchedCommand>& lc = targets->launched;
  auto collector = SchedTraceCollector::open(targets->resolved, *st_opts);
  if (!collector) return collector.error();
  AITRACE_TRY((*collector)->attach());
  RunLoop loop(*run_opts);
  (*collector)->add_to(loop);
  if (lc) {
    loop.add_stop_fd(lc->pidfd());
    AITRACE_TRY(lc->start());
  }
  auto render = [&]() {
    if (!o.common.json) return eevdf_text(**collector, true);
    nlohmann::json doc = nlohmann::json::object();
    add_eevdf_json(doc, **collector, true);
    return json_text(doc) + "\n";
  };
  auto reason = loop.run([&](bool final) -> Status {
    AITRACE_TRY((*collector)->on_tick(final));
    return final ? writer->write_final(render()) : writer->write_interval(render());
  });
  if (lc && (!reason || *reason != StopReason::stop_fd)) lc->terminate();
  if (lc) exit_code = lc->wait();
  return reason.status();
}

}  // namespace

void register_sched_trace_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<Options>();
  // An empty group keeps it out of --help.
  auto* cmd = app.add_subcommand("sched-trace", "EEVDF trace only (debugging; see 'sched --eevdf')")->group("");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  add_eevdf_options(cmd, opts->eevdf);
  cmd->callback([opts, &exit_code] {
    int child_exit = 0;
    Status s = run(*opts, child_exit);
    exit_code = s.ok() ? child_exit : report_error(s.error());
  });
}

}  // namespace aitrace
