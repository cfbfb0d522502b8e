#include "aitrace/core/tracepoint_catalog.hpp"

#include "aitrace/core/hooks.hpp"

#include <bpf/btf.h>
#include <dirent.h>

#include <algorithm>
#include <set>

namespace aitrace {

const std::vector<CollectorTracepoints>& tracepoint_catalog() {
  static const std::vector<CollectorTracepoints> catalog = {
      // Exactly the events each collector hooks (tests/bpf/catalog_test.cpp holds them to it).
      {"sched",
       {{"sched", {"sched_switch"}},
        {"sched", {"sched_wakeup"}},
        {"sched", {"sched_wakeup_new"}},
        {"sched", {"sched_migrate_task"}},
        {"sched", {"sched_move_numa"}},
        {"sched", {"sched_swap_numa"}},
        {"sched", {"sched_process_exit"}},
        {"task", {"task_rename"}},
        {"sched", {"sched_process_fork"}},
        {"sched", {"sched_process_free"}}},
       {}},
      {"sched_trace",  // `aitrace sched --eevdf/--trace`
       {{"sched", {"sched_switch"}},
        {"sched", {"sched_waking"}},
        {"sched", {"sched_wakeup"}},
        {"sched", {"sched_wakeup_new"}},
        {"sched", {"sched_process_fork"}},
        {"sched", {"sched_process_free"}}},
       {}},
      {"migrate",
       {{"migrate", {"mm_migrate_pages_start"}},
        {"migrate", {"mm_migrate_pages"}},
        {"migrate", {"set_migration_pte"}},
        {"migrate", {"remove_migration_pte"}},
        {"sched", {"sched_move_numa"}},
        {"sched", {"sched_swap_numa"}},
        {"sched", {"sched_stick_numa"}},
        {"sched", {"sched_process_fork"}},
        {"sched", {"sched_process_free"}}},
       {}},
      {"dma",
       // Newer kernels renamed dma_map_page/dma_unmap_page to *_phys and folded the *_resource
       // events into them (MMIO mappings carry DMA_ATTR_MMIO).
       {{"dma", {"dma_map_phys", "dma_map_page"}},
        {"dma", {"dma_unmap_phys", "dma_unmap_page"}},
        {"dma", {"dma_map_resource"}, "dma_map_phys"},
        {"dma", {"dma_unmap_resource"}, "dma_unmap_phys"},
        {"dma", {"dma_map_sg"}},
        {"dma", {"dma_map_sg_err"}},
        {"dma", {"dma_unmap_sg"}},
        {"dma", {"dma_sync_single_for_cpu"}},
        {"dma", {"dma_sync_single_for_device"}},
        {"dma", {"dma_sync_sg_for_cpu"}},
        {"dma", {"dma_sync_sg_for_device"}},
        {"dma", {"dma_alloc"}},
        {"dma", {"dma_free"}},
        {"dma", {"dma_alloc_pages"}},
        {"dma", {"dma_free_pages"}},
        {"dma", {"dma_alloc_sgt"}},
        {"dma", {"dma_alloc_sgt_err"}},
        {"dma", {"dma_free_sgt"}},
        {"iommu", {"map"}},
        {"iommu", {"unmap"}},
        {"iommu", {"io_page_fault"}},
        {"swiotlb", {"swiotlb_bounced"}},
        {"dma_fence", {"dma_fence_init"}},
        {"dma_fence", {"dma_fence_emit"}},
        {"dma_fence", {"dma_fence_enable_signal"}},
        {"dma_fence", {"dma_fence_signaled"}},
        {"dma_fence", {"dma_fence_wait_start"}},
        {"dma_fence", {"dma_fence_wait_end"}},
        {"dma_fence", {"dma_fence_destroy"}},
        {"sched", {"sched_process_fork"}},
        {"sched", {"sched_process_free"}}},
       {{"dma", "dma_", "dma_fence_"}, {"dma_fence", "dma_fence_", ""}}},
  };
  return catalog;
}

const CollectorTracepoints* collector_tracepoints(std::string_view collector) {
  for (const auto& c : tracepoint_catalog())
    if (c.collector == collector) return &c;
  return nullptr;
}

std::vector<std::string> btf_tracepoints_with_prefix(std::string_view prefix) {
  std::vector<std::string> out;
  const btf* b = vmlinux_btf();
  if (!b) return out;
  const std::string full = "btf_trace_" + std::string(prefix);
  const __u32 n = btf__type_cnt(b);
  for (__u32 id = 1; id < n; id++) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t || btf_kind(t) != BTF_KIND_TYPEDEF) continue;
    const char* name = btf__name_by_offset(b, t->name_off);
    if (name && std::string_view(name).substr(0, full.size()) == full) out.emplace_back(name + 10);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> tracefs_category_events(std::string_view category) {
  std::vector<std::string> out;
  std::string root = tracefs_root();
  if (root.empty()) return out;
  std::string dir = root + "/events/" + std::string(category);
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    // Plain files (enable, filter) sit beside the event directories.
    bool dir_entry = e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && n != "enable" && n != "filter");
    if (!dir_entry) continue;
    out.emplace_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<TracepointPresence> collector_tracepoint_presence(const CollectorTracepoints& c) {
  std::vector<TracepointPresence> out;
  std::set<std::string> seen;
  for (const auto& spec : c.events) {
    TracepointPresence p;
    p.category = spec.category;
    p.name = spec.names.front();
    for (auto name : spec.names) {
      bool btf = tracepoint_in_btf(name), fs = tracepoint_in_tracefs(spec.category, name);
      if (btf || fs) {
        p.name = name;
        p.in_btf = btf;
        p.in_tracefs = fs;
        break;
      }
    }
    if (!p.present() && !spec.replaced_by.empty() &&
        (tracepoint_in_btf(spec.replaced_by) || tracepoint_in_tracefs(spec.category, spec.replaced_by)))
      p.covered_by = std::string(spec.category) + ":" + std::string(spec.replaced_by);
    for (auto name : spec.names) {
      if (name != p.name) p.alternatives.emplace_back(name);
      seen.insert(std::string(spec.category) + ":" + std::string(name));
    }
    out.push_back(std::move(p));
  }
  std::vector<TracepointPresence> extras;
  for (const auto& d : c.discover) {
    std::set<std::string> names;
    for (auto& n : tracefs_category_events(d.category)) names.insert(n);
    for (auto& n : btf_tracepoints_with_prefix(d.btf_prefix))
      if (d.btf_exclude.empty() || n.rfind(d.btf_exclude, 0) != 0) names.insert(n);
    for (const auto& n : names) {
      std::string key = std::string(d.category) + ":" + n;
      if (!seen.insert(key).second) continue;
      TracepointPresence p;
      p.category = d.category;
      p.name = n;
      p.in_btf = tracepoint_in_btf(n);
      p.in_tracefs = tracepoint_in_tracefs(d.category, n);
      p.listed = false;
      extras.push_back(std::move(p));
    }
  }
  std::sort(extras.begin(), extras.end(), [](const auto& a, const auto& b) { return a.event() < b.event(); });
  out.insert(out.end(), extras.begin(), extras.end());
  return out;
}

}  // namespace aitrace
