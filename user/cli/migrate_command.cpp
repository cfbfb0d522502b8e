// `aitrace migrate`: page migrations and NUMA-balancing task moves while a job runs.
#include "commands.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/cli/cli.hpp"
#include "aitrace/core/launcher.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/migrate/migrate_names.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

namespace aitrace {
namespace {

struct MigrateOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string by = "process";
  bool all_tasks = false;
};

Result<MigrateGroupBy> parse_group_by(const std::string& s) {
  if (s == "process") return MigrateGroupBy::process;
  if (s == "cgroup") return MigrateGroupBy::cgroup;
  if (s == "reason") return MigrateGroupBy::reason;
  if (s == "none") return MigrateGroupBy::none;
  return make_error(ErrorKind::usage, "invalid --by '{}': expected process, cgroup, reason or none", s);
}

// JSON is one line per document, as `aitrace sched` writes it (JSON lines with -i).
std::string render(const MigrateSnapshot& s, const MigrateReportContext& ctx, bool json) {
  if (!json) return migrate_text(s, ctx) + (ctx.interval ? "\n" : "");
  return json_text(migrate_json(s, ctx)) + "\n";
}

Status run_migrate(const MigrateOptions& o, int& exit_code) {
  AITRACE_TRY(prepare_tracing(o.common));
  auto run = run_options(o.common);
  if (!run) return run.error();
  auto by = parse_group_by(o.by);
  if (!by) return by.error();
  auto spec = target_spec(o.targets);
  if (!spec) return spec.error();
  const bool launching = !o.targets.command.empty();
  if (o.all_tasks) {
    if (!launching)
      return make_error(ErrorKind::usage,
                        "-a/--all-tasks needs -- CMD (without CMD the whole system is traced anyway)");
    if (!spec->pids.empty() || !spec->tids.empty() || spec->comm || spec->cgroup)
      return make_error(ErrorKind::usage, "-a/--all-tasks cannot be combined with -p, -t, --comm or --cgroup");
    spec->follow_forks = false;
  }
  auto writer = ReportWriter::open(o.common);
  if (!writer) return writer.error();
  auto targets = command_targets(o.targets, std::move(*spec), /*follow=*/!o.all_tasks);
  if (!targets) return targets.error();
  std::optional<LaunchedCommand>& cmd = targets->launched;
  auto collector = MigrateCollector::load(targets->resolved);
  if (!collector) return collector.error();
  AITRACE_TRY((*collector)->attach(targets->resolved));

  MigrateReportContext ctx;
  ctx.by = *by;
  ctx.reasons = &migrate_reason_names();
  ctx.modes = &migrate_mode_names();
  ctx.host = read_migrate_host();
  ctx.hooks = (*collector)->hook_states();

  // Tests and scripts wait for this line: every hook is attached from here on.
  std::fprintf(stderr, "aitrace: tracing page migrations%s\n", launching ? "" : "; Ctrl-C to stop");
  std::fflush(stderr);
  if (cmd) AITRACE_TRY(cmd->start());

  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  auto last_tick = started;
  MigrateSnapshot previous;
  CgroupPaths cgroup_names;  // ids resolved once for the whole run, not per tick
  RunLoop loop(*run);
  if (cmd) loop.add_stop_fd(cmd->pidfd());
  auto stopped = loop.run([&](bool final) -> Status {
    if (final) (*collector)->detach();  // the window ends here; nothing is counted after
    auto snap = (*collector)->snapshot();
    if (!snap) return snap.error();
    auto now = clock::now();
    if (*by == MigrateGroupBy::cgroup) {
      std::set<uint64_t> ids;
      for (const auto& r : snap->stats) ids.insert(r.cgroup_id);
      ctx.cgroup_paths = cgroup_names.paths(ids);
    }
    if (!final) {
      ctx.interval = true;
      ctx.interval_index++;
      ctx.duration_ns = static_cast<uint64_t>(std::chrono::nanoseconds(now - last_tick).count());
      std::string text = render(snapshot_delta(*snap, previous), ctx, o.common.json);
      previous = std::move(*snap);
      last_tick = now;
      return writer->write_interval(text);
    }
    ctx.interval = false;
    ctx.duration_ns = static_cast<uint64_t>(std::chrono::nanoseconds(now - started).count());
    return writer->write_final(render(*snap, ctx, o.common.json));
  });
  if (!stopped) {
    if (cmd) cmd->terminate();
    if (cmd) cmd->wait();
    return stopped.error();
  }
  if (cmd) {
    if (*stopped != StopReason::stop_fd) cmd->terminate();
    exit_code = cmd->wait();  // like time(1): CMD's exit status
  }
  return {};
}

}  // namespace

void register_migrate_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<MigrateOptions>();
  auto* cmd = app.add_subcommand(
      "migrate", "Page migrations (compaction, NUMA balancing, demotion, long-term pinning) and NUMA task moves");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->add_option("--by", opts->by, "Group by process|cgroup|reason|none (default: process)");
  cmd->add_flag("-a,--all-tasks", opts->all_tasks,
                "With -- CMD: trace every task (kcompactd, other jobs) for as long as CMD runs");
  cmd->callback([&exit_code, opts] {
    exit_code = 0;
    Status st = run_migrate(*opts, exit_code);
    if (!st) exit_code = report_error(st.error());
  });
}

}  // namespace aitrace
