// `aitrace sched`: run-queue latency, on-CPU and off-CPU histograms per thread/process/cgroup.
//
// Layout for extension: options live in SchedOptions, target handling (resolve + `-- CMD`) in
// command_targets() (common_options.cpp), and run_sched() owns the RunLoop and drives every
// collector through open -> load -> attach -> read. A second collector (e.g. an EEVDF trace)
// takes the same ResolvedTargets for its own filter and joins the same loop.
#include "commands.hpp"
#include "eevdf_options.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/cli/cli.hpp"
#include "aitrace/core/launcher.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "aitrace/sched/sched_report.hpp"

#include <optional>
#include <set>

namespace aitrace {
namespace {

struct SchedOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string by = "process";
  uint32_t max_groups = AITRACE_SCHED_DEFAULT_MAX_GROUPS;
  size_t top = 10;
  std::string clock = "auto";
  uint32_t dense_groups = AITRACE_SCHED_DEFAULT_DENSE_GROUPS;
  uint32_t max_hist_entries = 0;
  EevdfCliOptions eevdf;  // --eevdf / --trace FILE: the EEVDF trace collector joins the run
  bool by_given = false;
};

// What to trace, resolved once for every collector of the command.
std::vector<std::string> hook_notes(const HookSet& hooks) {
  std::vector<std::string> notes;
  for (const HookStatus& st : hooks.statuses())
    if (st.state != HookStatus::State::attached) notes.push_back(st.event + " " + st.state_text());
  return notes;
}

Status run_sched(const SchedOptions& o, int& exit_code) {
  AITRACE_TRY(prepare_tracing(o.common));
  auto run_opts = run_options(o.common);
  if (!run_opts) return run_opts.error();
  // The EEVDF summary is per thread: --eevdf groups by thread unless --by says otherwise.
  auto group_by = parse_sched_group_by(o.eevdf.eevdf && !o.by_given ? "thread" : o.by);
  if (!group_by)
    return make_error(ErrorKind::usage, "invalid --by '{}': expected thread, process, cgroup, comm or none", o.by);
  if (o.max_groups == 0 || o.max_groups > kSchedMaxGroupsLimit)
    return make_error(ErrorKind::usage, "--max-groups must be 1 to {}", kSchedMaxGroupsLimit);
  if (o.clock != "auto" && o.clock != "rq" && o.clock != "ktime")
    return make_error(ErrorKind::usage, "invalid --clock '{}': expected rq or ktime", o.clock);
  auto trace_opts = sched_trace_options(o.eevdf);
  if (!trace_opts) return trace_opts.error();
  auto writer = ReportWriter::open(o.common);
  if (!writer) return writer.error();
  auto targets = command_targets(o.targets);
  if (!targets) return targets.error();

  SchedConfig cfg;
  cfg.group_by = *group_by;
  cfg.max_groups = o.max_groups;
  cfg.dense_groups = o.dense_groups;
  cfg.max_hist_entries = o.max_hist_entries;
  cfg.clock = o.clock == "rq" ? SchedClock::rq : o.clock == "ktime" ? SchedClock::ktime : SchedClock::automatic;
  cfg.targets = targets->resolved;
  auto collector = SchedCollector::open(cfg);
  if (!collector) return collector.error();
  AITRACE_TRY(collector->load());
  AITRACE_TRY(collector->attach());
  std::unique_ptr<SchedTraceCollector> trace;
  if (o.eevdf.enabled()) {
    auto t = SchedTraceCollector::open(targets->resolved, *trace_opts);
    if (!t) return t.error();
    trace = std::move(*t);
    AITRACE_TRY(trace->attach());
  }

  std::optional<LaunchedCommand>& launched = targets->launched;
  if (launched) AITRACE_TRY(launched->start());

  SchedReportOptions ropts;
  ropts.group_by = *group_by;
  ropts.top = o.top;
  ropts.hook_notes = hook_notes(collector->hooks());
  for (const HookStatus& st : collector->hooks().statuses()) ropts.hooks.emplace_back(st.event, st.state_text());
  SchedSnapshot previous;
  uint64_t interval_index = 0;
  CgroupPaths cgroup_names;  // ids resolved once for the whole run, not per tick
  auto render = [&](const SchedSnapshot& snap) {
    if (*group_by == SchedGroupBy::cgroup) {
      std::set<uint64_t> ids;
      for (const SchedGroup& g : snap.groups)
        if (!g.other) ids.insert(g.id);
      ropts.cgroup_paths = cgroup_names.paths(ids);
    }
    if (!o.common.json) {
      std::string text = sched_text(snap, ropts);
      if (trace && !ropts.interval) text += "\n" + eevdf_text(*trace, o.eevdf.eevdf);
      return text;
    }
    nlohmann::json doc = sched_json(snap, ropts);
    if (trace && !ropts.interval) add_eevdf_json(doc, *trace, o.eevdf.eevdf);
    return json_text(doc) + "\n";
  };

  RunLoop loop(*run_opts);
  if (launched) loop.add_stop_fd(launched->pidfd());
  if (trace) trace->add_to(loop);
  auto stopped = loop.run([&](bool final) -> Status {
    if (final && launched) {
      // Interrupted or out of time while CMD still runs: stop it, and report what it did.
      launched->terminate();
      exit_code = launched->wait();
    }
    if (final) {
      // Detach before the last read: counts, sums and buckets then come from one moment.
      collector->detach();
    }
    if (trace) AITRACE_TRY(trace->on_tick(final));  // final: detach, drain, finish the trace file
    auto snap = collector->read();
    if (!snap) return snap.error();
    if (!final) {
      ropts.interval = true;
      ropts.interval_index = ++interval_index;
      std::string text = render(sched_snapshot_delta(*snap, previous));
      previous = std::move(*snap);
      return writer->write_interval(text);
    }
    ropts.interval = false;
    return writer->write_final(render(*snap));
  });
  if (!stopped) return stopped.error();
  return {};
}

}  // namespace

void register_sched_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<SchedOptions>();
  auto* cmd = app.add_subcommand("sched", "Run-queue latency, on-CPU and off-CPU time histograms per group");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->add_option("--by", opts->by, "Group by thread, process (default), cgroup, comm or none");
  cmd->add_option("--top", opts->top, "Text output: show this many groups (default 10)");
  // Hidden: bounds the group map (default 10240); tests force an overflow with a tiny value.
  cmd->add_option("--max-groups", opts->max_groups, "Group map capacity")->group("");
  // Hidden, for tests of the sparse histogram path and its overflow accounting.
  cmd->add_option("--dense-groups", opts->dense_groups, "Groups with array histograms")->group("");
  cmd->add_option("--max-hist-entries", opts->max_hist_entries, "Sparse histogram map capacity")->group("");
  cmd->add_option("--clock", opts->clock,
                  "Timestamps: rq (default: the run queue's clock, as schedstat) or ktime (read at each tracepoint)");
  add_eevdf_options(cmd, opts->eevdf);
  cmd->callback([opts, cmd, &exit_code] {
    opts->by_given = cmd->count("--by") > 0;
    int code = 0;
    Status st = run_sched(*opts, code);
    exit_code = st ? code : report_error(st.error());
  });
}

}  // namespace aitrace
