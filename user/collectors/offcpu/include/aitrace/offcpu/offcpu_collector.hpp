// The offcpu collector: loads bpf/offcpu.bpf.c with the hook flavour this kernel accepts, applies
// the target filter, resolves each new stack when the kernel first reports it (ring-buffer
// notices), and reads the in-kernel totals back as a symbolized OffcpuSnapshot.
#pragma once

#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "aitrace/offcpu/offcpu_report.hpp"

#include <memory>

namespace aitrace {

class RunLoop;

struct OffcpuConfig {
  uint32_t states = AITRACE_OFFCPU_STATES_ALL;  // AITRACE_OFFCPU_SLEEP | AITRACE_OFFCPU_BLOCK
  uint64_t min_ns = 1000;                       // offcputime's default: 1 us
  uint64_t max_ns = UINT64_MAX;
  uint32_t stack_storage = AITRACE_OFFCPU_DEFAULT_STACKS;  // stack-trace map entries
  uint32_t max_keys = AITRACE_OFFCPU_DEFAULT_KEYS;         // aggregation entries
  bool wakers = false;  // also the waker's stacks, at sched_waking (wakeuptime's semantics)
};

// Every event the collector can hook (its hook table), for doctor's catalog.
CollectorTracepoints offcpu_tracepoints();

class OffcpuCollector {
 public:
  static Result<std::unique_ptr<OffcpuCollector>> load(const OffcpuConfig& cfg, const ResolvedTargets& targets,
                                                       const KernelFeatures& features,
                                                       const CountingWindow* window = nullptr);
  ~OffcpuCollector();
  OffcpuCollector(const OffcpuCollector&) = delete;
  OffcpuCollector& operator=(const OffcpuCollector&) = delete;

  // Fills the pid filter maps and attaches; fails when sched_switch cannot attach.
  Status attach(const ResolvedTargets& targets);
  void add_to(RunLoop& loop);
  // The run's window (the collector contract's start() and stop()): held from load on.
  void start();
  void stop();
  void detach();
  // After detach: the notices still in the ring are served.
  Status drain();
  Result<OffcpuSnapshot> snapshot();

  const HookSet& hooks() const;
  std::vector<OffcpuHookState> hook_states() const;

 private:
  OffcpuCollector();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
