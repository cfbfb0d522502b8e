// `aitrace migrate`: page migrations and NUMA-balancing task moves while a job runs.
#include "aitrace/driver/registration.hpp"

#include "aitrace/driver/driver.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/migrate/migrate_tracer.hpp"

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

int run_migrate(const MigrateOptions& o) {
  auto by = parse_group_by(o.by);
  if (!by) return report_error(by.error());
  auto spec = target_spec(o.targets);
  if (!spec) return report_error(spec.error());
  if (o.all_tasks) {
    if (o.targets.command.empty())
      return report_error(make_error(ErrorKind::usage,
                                     "-a/--all-tasks needs -- CMD (without CMD the whole system is traced anyway)"));
    if (!spec->pids.empty() || !spec->tids.empty() || spec->comm || spec->cgroup)
      return report_error(
          make_error(ErrorKind::usage, "-a/--all-tasks cannot be combined with -p, -t, --comm or --cgroup"));
    spec->follow_forks = false;
  }
  std::vector<std::unique_ptr<Collector>> cs;
  cs.push_back(make_migrate_tracer({*by}));
  return run_collectors({o.common, o.targets, std::move(*spec), /*follow=*/!o.all_tasks}, cs);
}

void add_commands(CLI::App& app, const CommandContext& ctx) {
  auto opts = std::make_shared<MigrateOptions>();
  auto* cmd = app.add_subcommand(
      "migrate", "Page migrations (compaction, NUMA balancing, demotion, long-term pinning) and NUMA task moves");
  add_common_options(cmd, opts->common);
  add_target_options(cmd, opts->targets);
  cmd->add_option("--by", opts->by, "Group by process|cgroup|reason|none (default: process)");
  cmd->add_flag("-a,--all-tasks", opts->all_tasks,
                "With -- CMD: trace every task (kcompactd, other jobs) for as long as CMD runs");
  cmd->callback([exit_code = ctx.exit_code, opts] { *exit_code = run_migrate(*opts); });
}

}  // namespace

CollectorEntry migrate_collector_entry() { return {"migrate", add_commands, migrate_tracepoints}; }

}  // namespace aitrace
