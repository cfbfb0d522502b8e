// The dma collector's metrics for `aitrace serve` (docs/metrics.md): each read's change since the
// previous one added to the exporter's store. Devices, waiters and fence timelines are kernel
// map entries that are never deleted while the collector runs, so an entry's counts only grow
// and the difference with the previous read is its delta; an entry first seen adds all it has.
#pragma once

#include "aitrace/dma/dma.hpp"
#include "aitrace/output/metric_store.hpp"

#include <optional>

namespace aitrace {

class DmaMetrics {
 public:
  void add(const DmaSnapshot& now, MetricStore& store);

 private:
  struct Families {
    int maps, mapped_bytes, map_errors, unmaps, unmatched, syncs, synced_bytes, allocs, alloc_bytes, alloc_errors,
        freed_bytes, lifetime, swiotlb, swiotlb_bytes, dev_faults, iommu_ops, iommu_bytes, iommu_faults, fence_wait,
        fence_exec, fence_events, lost;
  };
  static Families declare(MetricStore& s);
  std::optional<Families> f_;
  DmaSnapshot previous_;
};

}  // namespace aitrace
