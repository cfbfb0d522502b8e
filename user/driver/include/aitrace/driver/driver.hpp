// The one command driver: every tracing subcommand hands it its collectors, and it owns the rest
// of the flow, in this order:
//   1. capability, BTF and kernel-floor checks; -d/-i/--hook parsed;
//   2. the report output opened (a bad -o fails before anything runs), and -o checked against
//      every file a collector writes (`-o X --trace X` is refused);
//   3. targets resolved and `-- CMD` forked, held before exec;
//   4. every collector loaded, then every collector attached (filter maps filled);
//   5. with `-- CMD`, a stop signal that came during 4 ends the run here: CMD never starts;
//   6. the readiness line on stderr ("aitrace: tracing ..."), then CMD released;
//   7. one run loop for all collectors: a report every -i, until -d, a stop signal
//      (SIGINT/SIGTERM/SIGHUP) or CMD's exit;
//   8. CMD's whole process group stopped (SIGTERM, SIGKILL after the grace), every collector
//      detached and finished, the final report written;
//   9. the exit status: CMD's with `-- CMD`, else 0; a failure's own code (after a one-line
//      message) otherwise.
#pragma once

#include "aitrace/collector/collector.hpp"
#include "aitrace/driver/options.hpp"

#include "aitrace/core/clock_sample.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace aitrace {

struct DriverRun {
  const CommonOptions& common;
  const TargetOptions& targets;
  // The targets a command adjusted (migrate -a); target_spec(targets) when empty.
  std::optional<TargetSpec> spec;
  bool follow = true;  // CMD's pid and its children join the filter
  // In place of the interval report: called every -i (serve reads the collectors into its metric
  // store here). An error ends the run like a failed report.
  std::function<Status()> on_interval;
  // A --comm no task has at start is a mistake (a typo, a comm cut to 15 characters) unless the
  // command waits for it: serve, or `-- CMD`, which may exec under that name later.
  bool comm_must_exist = true;
  bool final_report = true;  // false: the run ends without a report (serve)
  // In place of the final report (with final_report false): called once every collector is
  // stopped, detached and finished, with the run's span from attach to detach (capture reads the
  // collectors one last time and writes its bundle here).
  std::function<Status(const ClockSample& start, const ClockSample& end)> on_final;
  // Called once counting started and the run loop exists: the command adds its own work to
  // the run loop (capture's SIGUSR1 check) and learns when the window opened.
  std::function<void(RunLoop& loop, const ClockSample& attached)> on_started;
  // A collector whose load or attach fails ends the run, unless this returns true for it: then it
  // is dropped with that error and the run goes on without it (capture runs every collector the
  // host supports). sched-like required collectors answer false.
  std::function<bool(const Collector& c, const Error& why)> may_drop;
};

// Runs `collectors` (in report order) to the end and returns the process exit code. They stay
// the caller's: finished and detached, their state can still be read (tests do).
int run_collectors(const DriverRun& run, std::vector<std::unique_ptr<Collector>>& collectors);

}  // namespace aitrace
