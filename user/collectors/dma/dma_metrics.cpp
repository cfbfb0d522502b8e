#include "aitrace/dma/dma_metrics.hpp"

#include <utility>
#include <vector>

namespace aitrace {
namespace {

std::vector<std::pair<uint32_t, uint64_t>> sparse(const aitrace_dma_hist& h) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (uint32_t b = 0; b < AITRACE_HIST_BUCKETS; b++)
    if (h.buckets[b]) out.emplace_back(b, h.buckets[b]);
  return out;
}

// A series is exported once it saw an event, as sched's are: zeros would be 22 series per device
// and direction that most hosts never use.
void add_nonzero(MetricStore& s, int family, const MetricLabels& labels, uint64_t delta) {
  if (delta) s.add(family, labels, delta);
}

MetricLabels with(MetricLabels labels, const char* name, const char* value) {
  labels.emplace_back(name, value);
  return labels;
}

}  // namespace

DmaMetrics::Families DmaMetrics::declare(MetricStore& s) {
  Families f{};
  f.maps = s.counter("aitrace_dma_maps", "DMA mappings made (kind=single: dma_map_phys/page/resource; kind=sg: dma_map_sg)");
  f.mapped_bytes = s.counter("aitrace_dma_mapped_bytes", "Bytes DMA-mapped, by device, direction and kind");
  f.map_errors = s.counter("aitrace_dma_map_errors", "DMA mappings that failed (DMA_MAPPING_ERROR)");
  f.unmaps = s.counter("aitrace_dma_unmaps", "DMA unmappings, by device, direction and kind");
  f.unmatched = s.counter("aitrace_dma_unmaps_unmatched",
                          "DMA unmappings whose mapping was not seen (made before start, or the live table was full)");
  f.syncs = s.counter("aitrace_dma_syncs", "dma_sync_*_for_cpu (for=cpu) and _for_device (for=device) calls");
  f.synced_bytes = s.counter("aitrace_dma_synced_bytes", "Bytes synced, for the CPU or for the device");
  f.allocs = s.counter("aitrace_dma_allocs", "Coherent DMA allocations (dma_alloc, dma_alloc_pages, dma_alloc_sgt)");
  f.alloc_bytes = s.counter("aitrace_dma_alloc_bytes", "Bytes of coherent DMA allocations");
  f.alloc_errors = s.counter("aitrace_dma_alloc_errors", "Coherent DMA allocations that failed");
  f.freed_bytes = s.counter("aitrace_dma_freed_bytes", "Bytes of coherent DMA memory freed");
  f.lifetime = s.histogram("aitrace_dma_mapping_lifetime_seconds", "Time from a DMA mapping to its unmapping");
  f.swiotlb = s.counter("aitrace_dma_swiotlb_bounces", "swiotlb bounce-buffer copies, by device");
  f.swiotlb_bytes = s.counter("aitrace_dma_swiotlb_bounced_bytes", "Bytes copied through swiotlb bounce buffers");
  f.dev_faults = s.counter("aitrace_dma_iommu_device_faults", "IOMMU page faults (iommu:io_page_fault), by device");
  f.iommu_ops = s.counter("aitrace_dma_iommu_operations", "iommu:map (op=map) and iommu:unmap (op=unmap) events");
  f.iommu_bytes = s.counter("aitrace_dma_iommu_bytes", "Bytes IOMMU-mapped (op=map) and unmapped (op=unmap)");
  f.iommu_faults = s.counter("aitrace_dma_iommu_faults", "IOMMU page faults, all devices");
  f.fence_wait = s.histogram("aitrace_dma_fence_wait_seconds",
                             "Time a task waited on a dma-fence (dma_fence_wait_start to _end), by the waiter's comm");
  f.fence_exec = s.histogram("aitrace_dma_fence_execution_seconds",
                             "Time from a dma-fence's emit to its signal (the GPU job's execution), by driver");
  f.fence_events = s.counter("aitrace_dma_fence_events", "dma_fence tracepoint events, by event");
  f.lost = s.counter("aitrace_dma_lost_events", "DMA and dma-fence events the collector could not account, by reason");
  return f;
}

void DmaMetrics::add(const DmaSnapshot& now, MetricStore& s) {
  if (!f_) f_ = declare(s);
  const Families& f = *f_;
  const DmaSnapshot d = dma_delta(now, previous_);
  for (const auto& [ptr, dev] : d.devices) {
    const MetricLabels device = {{"device", dev.name.empty() ? "?" : dev.name}, {"driver", dev.driver}};
    for (int dir = 0; dir < AITRACE_DMA_DIRS; dir++) {
      const aitrace_dma_dir_stats& st = dev.dirs[dir];
      const MetricLabels l = with(device, "direction", kDmaDirNames[dir]);
      const MetricLabels single = with(l, "kind", "single"), sg = with(l, "kind", "sg");
      add_nonzero(s, f.maps, single, st.map_count);
      add_nonzero(s, f.maps, sg, st.sg_map_count);
      add_nonzero(s, f.mapped_bytes, single, st.map_bytes);
      add_nonzero(s, f.mapped_bytes, sg, st.sg_map_bytes);
      add_nonzero(s, f.map_errors, single, st.map_errors);
      add_nonzero(s, f.map_errors, sg, st.sg_map_errors);
      add_nonzero(s, f.unmaps, single, st.unmap_count);
      add_nonzero(s, f.unmaps, sg, st.sg_unmap_count);
      add_nonzero(s, f.unmatched, l, st.unmap_unmatched);
      add_nonzero(s, f.syncs, with(l, "for", "cpu"), st.sync_cpu_count);
      add_nonzero(s, f.syncs, with(l, "for", "device"), st.sync_device_count);
      add_nonzero(s, f.synced_bytes, with(l, "for", "cpu"), st.sync_cpu_bytes);
      add_nonzero(s, f.synced_bytes, with(l, "for", "device"), st.sync_device_bytes);
      add_nonzero(s, f.allocs, l, st.alloc_count);
      add_nonzero(s, f.alloc_bytes, l, st.alloc_bytes);
      add_nonzero(s, f.alloc_errors, l, st.alloc_errors);
      add_nonzero(s, f.freed_bytes, l, st.free_bytes);
      if (dev.lifetime[dir].count) s.add_histogram(f.lifetime, l, sparse(dev.lifetime[dir]), dev.lifetime[dir].sum);
    }
    add_nonzero(s, f.swiotlb, device, dev.dev.swiotlb_count);
    add_nonzero(s, f.swiotlb_bytes, device, dev.dev.swiotlb_bytes);
    add_nonzero(s, f.dev_faults, device, dev.dev.iommu_faults);
  }
  add_nonzero(s, f.iommu_ops, {{"op", "map"}}, d.iommu.map_count);
  add_nonzero(s, f.iommu_ops, {{"op", "unmap"}}, d.iommu.unmap_count);
  add_nonzero(s, f.iommu_bytes, {{"op", "map"}}, d.iommu.map_bytes);
  add_nonzero(s, f.iommu_bytes, {{"op", "unmap"}}, d.iommu.unmap_bytes);
  add_nonzero(s, f.iommu_faults, {}, d.iommu.faults);
  for (const auto& [tid, w] : d.waiters)
    if (w.hist.count) s.add_histogram(f.fence_wait, {{"comm", w.comm}}, sparse(w.hist), w.hist.sum);
  for (const auto& [key, t] : d.timelines)
    if (t.hist.count) s.add_histogram(f.fence_exec, {{"driver", t.driver}}, sparse(t.hist), t.hist.sum);
  const std::pair<const char*, uint64_t> events[] = {
      {"init", d.fence.init},           {"emit", d.fence.emit},
      {"signaled", d.fence.signaled},   {"destroy", d.fence.destroy},
      {"enable_signal", d.fence.enable_signal}, {"wait_start", d.fence.wait_start},
      {"wait_end", d.fence.wait_end},   {"signaled_without_emit", d.fence.signaled_without_emit}};
  for (const auto& [event, n] : events) add_nonzero(s, f.fence_events, {{"event", event}}, n);
  // Every reason from the first refresh on, zero or not, so alerts need no absent().
  const aitrace_dma_lost& l = d.lost;
  const std::pair<const char*, uint64_t> lost[] = {
      {"dir_stats_full", l.dir_stats_full},   {"dev_stats_full", l.dev_stats_full},
      {"dev_names_full", l.dev_names_full},   {"live_full", l.live_full},
      {"lifetime_hists_full", l.lifetime_hists_full}, {"waits_full", l.waits_full},
      {"waiters_full", l.waiters_full},       {"fences_full", l.fences_full},
      {"timelines_full", l.timelines_full},   {"sg_walk_truncated", l.sg_walk_truncated},
      {"fence_wait_end_unmatched", d.fence.wait_end_unmatched}, {"fork_not_followed", d.fork_overflow}};
  for (const auto& [reason, n] : lost) s.add(f.lost, {{"reason", reason}}, n);
  previous_ = now;
}

}  // namespace aitrace
