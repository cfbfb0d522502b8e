// The dma collector: loads bpf/dma.bpf.c, attaches whichever dma/iommu/swiotlb/dma_fence
// tracepoints this kernel has, and reads the in-kernel aggregation into a DmaSnapshot.
#pragma once

#include "aitrace/dma_events.h"
#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "aitrace/dma/fence_symbols.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct dma_bpf;

namespace aitrace {

// Every event the collector can hook (its hook table), for doctor's catalog.
CollectorTracepoints dma_tracepoints();

inline constexpr const char* kDmaDirNames[AITRACE_DMA_DIRS] = {"bidirectional", "to_device", "from_device", "none"};

struct DmaDevice {
  std::string name, driver;  // raw kernel bytes: escape before printing
  std::array<aitrace_dma_dir_stats, AITRACE_DMA_DIRS> dirs{};
  std::array<aitrace_dma_hist, AITRACE_DMA_DIRS> lifetime{};
  aitrace_dma_dev_stats dev{};
};

struct DmaWaiter {
  uint32_t tgid = 0;
  std::string comm;
  aitrace_dma_hist hist{};
};

struct DmaTimeline {
  std::string driver;  // from the fence ops' kallsyms symbol ("amdgpu_fence_ops [amdgpu]"), or "?"
  uint64_t context = 0;
  aitrace_dma_hist hist{};
};

// Cumulative counts since load (or, after dma_delta, for one interval).
struct DmaSnapshot {
  std::map<uint64_t, DmaDevice> devices;  // by struct device pointer (never printed)
  aitrace_dma_iommu_stats iommu{};
  aitrace_dma_fence_stats fence{};
  std::map<uint32_t, DmaWaiter> waiters;                           // by tid
  std::map<std::pair<uint64_t, uint64_t>, DmaTimeline> timelines;  // by (ops, context)
  aitrace_dma_lost lost{};
  uint64_t fork_overflow = 0;  // children of `-- CMD` not followed (pid filter full)
  uint64_t unmatched_unmaps() const;
  uint64_t total_swiotlb_count() const;
  uint64_t total_swiotlb_bytes() const;
};

// now - before, entry by entry (entries only in `now` are kept whole).
DmaSnapshot dma_delta(const DmaSnapshot& now, const DmaSnapshot& before);

// Reads every map of a loaded dma skeleton. Fence timelines are symbolized through `symbols`
// (kept across ticks, so /proc/kallsyms is read only for addresses not seen before), not at all
// when it is null.
Result<DmaSnapshot> read_dma_snapshot(dma_bpf* skel, FenceSymbols* symbols);
// One-off read: symbolized from a fresh table when `symbolize` (tests pass false: their ops
// pointers are made up).
Result<DmaSnapshot> read_dma_snapshot(dma_bpf* skel, bool symbolize = true);

// Sets the rodata that depends on this kernel's tracepoint prototypes (call before load).
void configure_dma_for_kernel(dma_bpf* skel);

struct DmaConfig {
  ResolvedTargets targets;  // fence waits only; DMA map events run in arbitrary task context
};

class DmaCollector {
 public:
  static Result<std::unique_ptr<DmaCollector>> open(const DmaConfig& cfg, const KernelFeatures& features,
                                                    const CountingWindow* window = nullptr);
  ~DmaCollector();
  DmaCollector(const DmaCollector&) = delete;
  DmaCollector& operator=(const DmaCollector&) = delete;

  // Fills the filter maps and attaches every hook this kernel has (a missing one is recorded).
  Status attach(const ResolvedTargets& targets);
  // The run's window (the collector contract's start() and stop()): held from open on.
  void start();
  void stop();
  void detach() { hooks_.detach_all(); }
  // The run loop's work: the filter's sweep (core/filter_sweep.hpp).
  void add_to(RunLoop& loop);
  Result<DmaSnapshot> snapshot() const { return read_dma_snapshot(skel_, &symbols_); }
  const HookSet& hooks() const { return hooks_; }

 private:
  struct Owned;  // the skeleton (dma.skel.h stays out of this header)
  DmaCollector();
  std::unique_ptr<Owned> owned_;
  dma_bpf* skel_ = nullptr;
  HookSet hooks_;
  mutable FenceSymbols symbols_;  // a cache: snapshot() stays a read
};

}  // namespace aitrace
