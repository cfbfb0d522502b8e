// JSON (the collector's keys of aitrace.dma/2; the driver adds the envelope) and text renderings
// of the dma collector's counts.
#include "aitrace/dma/dma_report.hpp"

#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace aitrace {
namespace {

using nlohmann::json;

bool any_nonzero(const aitrace_dma_dir_stats& s) {
  static const aitrace_dma_dir_stats zero{};
  return std::memcmp(&s, &zero, sizeof(s)) != 0;
}

std::string device_label(const DmaDevice& d) { return d.name.empty() ? "?" : d.name; }

// Devices in name order, unnamed ones last (the key, a kernel pointer, is never shown).
std::vector<const DmaDevice*> sorted_devices(const DmaSnapshot& s) {
  std::vector<const DmaDevice*> v;
  v.reserve(s.devices.size());
  for (const auto& [_, d] : s.devices) v.push_back(&d);
  std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) {
    return std::make_pair(a->name.empty(), a->name) < std::make_pair(b->name.empty(), b->name);
  });
  return v;
}

json count_bytes(uint64_t count, uint64_t bytes) { return {{"count", count}, {"bytes", bytes}}; }

json direction_json(const aitrace_dma_dir_stats& s, const aitrace_dma_hist& lifetime) {
  return {
      {"map", {{"count", s.map_count}, {"bytes", s.map_bytes}, {"errors", s.map_errors}}},
      {"unmap", {{"count", s.unmap_count}, {"bytes", s.unmap_bytes}, {"unmatched", s.unmap_unmatched}}},
      {"sg_map",
       {{"count", s.sg_map_count},
        {"nents", s.sg_map_nents},
        {"ents", s.sg_map_ents},
        {"bytes", s.sg_map_bytes},
        {"errors", s.sg_map_errors}}},
      {"sg_unmap", count_bytes(s.sg_unmap_count, s.sg_unmap_bytes)},
      {"sync_for_cpu", count_bytes(s.sync_cpu_count, s.sync_cpu_bytes)},
      {"sync_for_device", count_bytes(s.sync_device_count, s.sync_device_bytes)},
      {"alloc", {{"count", s.alloc_count}, {"bytes", s.alloc_bytes}, {"errors", s.alloc_errors}}},
      {"free", count_bytes(s.free_count, s.free_bytes)},
      {"lifetime", histogram_json(dma_histogram(lifetime))},
  };
}

}  // namespace

json dma_lost_json(const DmaSnapshot& s) {
  const aitrace_dma_lost& l = s.lost;
  return {{"unmatched_unmaps", s.unmatched_unmaps()},
          {"wait_end_unmatched", s.fence.wait_end_unmatched},
          {"dir_stats_full", l.dir_stats_full},
          {"dev_stats_full", l.dev_stats_full},
          {"dev_names_full", l.dev_names_full},
          {"live_full", l.live_full},
          {"lifetime_hists_full", l.lifetime_hists_full},
          {"waits_full", l.waits_full},
          {"waiters_full", l.waiters_full},
          {"fences_full", l.fences_full},
          {"timelines_full", l.timelines_full},
          {"sg_walk_truncated", l.sg_walk_truncated},
          {"fork_overflow", s.fork_overflow}};
}

namespace {

std::string bytes_text(uint64_t b) {
  if (b < 10ull * 1024) return fmt::format("{}B", b);
  if (b < 10ull * 1024 * 1024) return fmt::format("{:.1f}KiB", b / 1024.0);
  if (b < 10ull * 1024 * 1024 * 1024) return fmt::format("{:.1f}MiB", b / 1048576.0);
  return fmt::format("{:.1f}GiB", b / 1073741824.0);
}

}  // namespace

Histogram dma_histogram(const aitrace_dma_hist& h) {
  Histogram out = Histogram::bucketed();
  for (uint32_t i = 0; i < AITRACE_HIST_BUCKETS; i++)
    if (h.buckets[i]) out.add_bucket(i, h.buckets[i]);
  out.add_sum(h.sum);
  return out;
}

std::vector<DmaHookState> dma_hook_states(const HookSet& hooks) {
  std::vector<DmaHookState> v;
  for (const auto& s : hooks.statuses()) {
    DmaHookState h{s.event, {}, s.state_text()};
    switch (s.state) {
      case HookStatus::State::attached:
        h.state = "attached";
        break;
      case HookStatus::State::absent:
        h.state = "absent";
        break;
      case HookStatus::State::failed:
        h.state = s.state_text();
        break;
    }
    v.push_back(std::move(h));
  }
  return v;
}

json dma_report_json(const DmaReport& r) {
  const DmaSnapshot& s = r.data;

  json devices = json::array();
  for (const DmaDevice* d : sorted_devices(s)) {
    json dirs = json::object();
    for (int i = 0; i < AITRACE_DMA_DIRS; i++)
      if (any_nonzero(d->dirs[i]) || d->lifetime[i].count)
        dirs[kDmaDirNames[i]] = direction_json(d->dirs[i], d->lifetime[i]);
    devices.push_back({{"name", sanitize_utf8(device_label(*d))},
                       {"driver", sanitize_utf8(d->driver)},
                       {"directions", std::move(dirs)},
                       {"swiotlb", count_bytes(d->dev.swiotlb_count, d->dev.swiotlb_bytes)},
                       {"iommu_faults", d->dev.iommu_faults}});
  }

  json swiotlb_devices = json::array();
  for (const DmaDevice* d : sorted_devices(s))
    if (d->dev.swiotlb_count)
      swiotlb_devices.push_back({{"device", sanitize_utf8(device_label(*d))},
                                 {"count", d->dev.swiotlb_count},
                                 {"bytes", d->dev.swiotlb_bytes}});

  json waits = json::array();
  for (const auto& [tid, w] : s.waiters)
    if (w.hist.count)
      waits.push_back({{"tid", tid},
                       {"tgid", w.tgid},
                       {"comm", sanitize_utf8(w.comm)},
                       {"latency", histogram_json(dma_histogram(w.hist))}});
  json timelines = json::array();
  for (const auto& [_, t] : s.timelines)
    if (t.hist.count)
      timelines.push_back({{"driver", sanitize_utf8(t.driver)},
                           {"context", t.context},
                           {"latency", histogram_json(dma_histogram(t.hist))}});

  const auto& f = s.fence;
  return {
      {"filter", {{"fence_waits", r.filter.empty() ? "all tasks" : sanitize_utf8(r.filter)}, {"dma", "all devices"}}},
      {"devices", std::move(devices)},
      {"swiotlb",
       {{"count", s.total_swiotlb_count()},
        {"bytes", s.total_swiotlb_bytes()},
        {"devices", std::move(swiotlb_devices)}}},
      {"iommu",
       {{"map", count_bytes(s.iommu.map_count, s.iommu.map_bytes)},
        {"unmap",
         {{"count", s.iommu.unmap_count},
          {"bytes", s.iommu.unmap_bytes},
          {"requested_bytes", s.iommu.unmap_requested}}},
        {"io_page_faults", s.iommu.faults}}},
      {"dma_fence",
       {{"events",
         {{"init", f.init},
          {"emit", f.emit},
          {"signaled", f.signaled},
          {"destroy", f.destroy},
          {"enable_signal", f.enable_signal},
          {"wait_start", f.wait_start},
          {"wait_end", f.wait_end}}},
        {"signaled_without_emit", f.signaled_without_emit},
        {"waits", std::move(waits)},
        {"timelines", std::move(timelines)}}},
  };
}

std::string dma_report_text(const DmaReport& r) {
  const DmaSnapshot& s = r.data;
  std::string out;
  size_t attached = 0;
  std::string absent;
  for (const auto& h : r.hooks) {
    if (h.state == "attached") {
      attached++;
    } else {
      absent +=
          fmt::format("{}{} ({})", absent.empty() ? "" : ", ", h.event, h.state == "absent" ? "absent" : "failed");
    }
  }
  if (r.interval)  // interval headers (number, span) are the driver's
    out += fmt::format("aitrace dma: {}/{} hooks attached\n", attached, r.hooks.size());
  else
    out += fmt::format("aitrace dma: {} traced, {}, {}/{} hooks attached\n", format_ns(r.duration_ns), r.span, attached,
                       r.hooks.size());
  if (!absent.empty()) out += fmt::format("  not attached: {}\n", absent);
  out += fmt::format("  filters: fence waits: {}; DMA events: all devices (caller context is arbitrary)\n",
                     r.filter.empty() ? "all tasks" : escape_text(r.filter));

  out += "\nDMA mappings per device and direction\n";
  bool any = false;
  std::string hists;
  for (const DmaDevice* d : sorted_devices(s)) {
    for (int i = 0; i < AITRACE_DMA_DIRS; i++) {
      const auto& st = d->dirs[i];
      if (!any_nonzero(st)) continue;
      if (!any)
        out += fmt::format("  {:<16} {:<10} {:<13} {:>8} {:>10} {:>8} {:>9} {:>6} {:>10} {:>9} {:>9} {:>10} {:>10}\n",
                           "DEVICE", "DRIVER", "DIR", "MAPS", "MAPPED", "UNMAPS", "UNMATCHED", "SG", "SG_BYTES",
                           "SYNC_CPU", "SYNC_DEV", "ALLOC", "FREE");
      any = true;
      out += fmt::format("  {:<16} {:<10} {:<13} {:>8} {:>10} {:>8} {:>9} {:>6} {:>10} {:>9} {:>9} {:>10} {:>10}\n",
                         escape_text(device_label(*d)), escape_text(d->driver.empty() ? "-" : d->driver),
                         kDmaDirNames[i], st.map_count, bytes_text(st.map_bytes), st.unmap_count + st.sg_unmap_count,
                         st.unmap_unmatched, st.sg_map_count, bytes_text(st.sg_map_bytes), st.sync_cpu_count,
                         st.sync_device_count, bytes_text(st.alloc_bytes), bytes_text(st.free_bytes));
      if (d->lifetime[i].count)
        hists += histogram_text(dma_histogram(d->lifetime[i]),
                                fmt::format("mapping lifetime {} {}", escape_text(device_label(*d)), kDmaDirNames[i]));
    }
  }
  if (!any) out += "  (no DMA map/unmap/sync/alloc events)\n";
  out += hists;

  out += fmt::format("\nswiotlb bounce buffers: {} copies, {}\n", s.total_swiotlb_count(),
                     bytes_text(s.total_swiotlb_bytes()));
  for (const DmaDevice* d : sorted_devices(s))
    if (d->dev.swiotlb_count)
      out += fmt::format("  {:<16} {:>10} copies {:>10}\n", escape_text(device_label(*d)), d->dev.swiotlb_count,
                         bytes_text(d->dev.swiotlb_bytes));
  out += fmt::format("IOMMU: map {} ({}), unmap {} ({} of {} requested), io page faults {}\n", s.iommu.map_count,
                     bytes_text(s.iommu.map_bytes), s.iommu.unmap_count, bytes_text(s.iommu.unmap_bytes),
                     bytes_text(s.iommu.unmap_requested), s.iommu.faults);
  for (const DmaDevice* d : sorted_devices(s))
    if (d->dev.iommu_faults)
      out += fmt::format("  {:<16} {:>10} faults\n", escape_text(device_label(*d)), d->dev.iommu_faults);

  const auto& f = s.fence;
  out += fmt::format(
      "\ndma-fence: init {}, emit {}, signaled {} ({} without emit), enable_signal {}, destroy {}, waits {}/{}\n",
      f.init, f.emit, f.signaled, f.signaled_without_emit, f.enable_signal, f.destroy, f.wait_start, f.wait_end);
  for (const auto& [tid, w] : s.waiters)
    if (w.hist.count)
      out += histogram_text(dma_histogram(w.hist),
                            fmt::format("fence wait {} tid {} (pid {})", escape_text(w.comm), tid, w.tgid));
  for (const auto& [_, t] : s.timelines)
    if (t.hist.count)
      out += histogram_text(dma_histogram(t.hist),
                            fmt::format("fence emit->signaled {} context {}", escape_text(t.driver), t.context));

  const auto& l = s.lost;
  out += fmt::format(
      "\nlost: unmatched unmaps {}, unmatched wait_end {}, live table full {}, stats full {}, names full {}, "
      "histograms full {}, fence tables full {}, sg walks truncated {}, forks not followed {}\n",
      s.unmatched_unmaps(), f.wait_end_unmatched, l.live_full, l.dir_stats_full + l.dev_stats_full, l.dev_names_full,
      l.lifetime_hists_full + l.waiters_full + l.timelines_full, l.waits_full + l.fences_full, l.sg_walk_truncated,
      s.fork_overflow);
  return out;
}

}  // namespace aitrace
