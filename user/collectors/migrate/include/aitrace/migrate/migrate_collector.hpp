// The migrate collector: loads bpf/migrate.bpf.c with the hook flavour this kernel accepts,
// applies the target filter, and reads the in-kernel aggregates back as a MigrateSnapshot.
#pragma once

#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/migrate/migrate_report.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"

#include <memory>

struct migrate_bpf;

namespace aitrace {

// Every event the collector can hook (its hook table), for doctor's catalog.
CollectorTracepoints migrate_tracepoints();

// The one hook aitrace migrate cannot work without; a clear error when this kernel lacks it.
Status require_migrate_end_hook(const HookStatus* end);

// Reads the aggregates of a loaded migrate skeleton (shared maps with atomic adds, not per-CPU).
Result<MigrateSnapshot> read_migrate_snapshot(const migrate_bpf* skel);

class MigrateCollector {
 public:
  // Opens, configures (filter, mm_migrate_pages argument count), chooses hooks and loads.
  static Result<std::unique_ptr<MigrateCollector>> load(const ResolvedTargets& targets,
                                                        const KernelFeatures& features,
                                                        const CountingWindow* window = nullptr);
  ~MigrateCollector();
  MigrateCollector(const MigrateCollector&) = delete;
  MigrateCollector& operator=(const MigrateCollector&) = delete;

  // Fills the pid filter maps (after load) and attaches; fails when mm_migrate_pages cannot.
  Status attach(const ResolvedTargets& targets);
  // The run's window (the collector contract's start() and stop()): held from load on.
  void start();
  void stop();
  void detach() { hooks_.detach_all(); }
  // The run loop's work: the filter's sweep (core/filter_sweep.hpp).
  void add_to(RunLoop& loop);
  Result<MigrateSnapshot> snapshot() const;

  const HookSet& hooks() const { return hooks_; }
  std::vector<MigrateHookState> hook_states() const;
  migrate_bpf* skeleton() const;

 private:
  MigrateCollector();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HookSet hooks_;
};

}  // namespace aitrace
