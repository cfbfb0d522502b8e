// The dma collector: hook table, load, filters. Reading the maps is in dma_snapshot.cpp.
#include "aitrace/dma/dma.hpp"

#include "aitrace/core/bpf_feature_probe.hpp"
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/filter_hooks.hpp"
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/core/log.hpp"
#include "dma.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>

namespace aitrace {
namespace {

using DmaSkeleton = AITRACE_SKELETON_TYPE(dma);

using DmaProgs = decltype(dma_bpf::progs);

struct DmaHook {
  const char* category;
  const char* name;
  bpf_program* DmaProgs::*prog;
  // For doctor's catalog: this is an older name of `older_name_of` (one event, two names), or an
  // event newer kernels fold into `replaced_by`.
  const char* older_name_of = nullptr;
  const char* replaced_by = nullptr;
};

// The hook table: every event the collector knows, in report order. open() and dma_tracepoints()
// both read it. dma_map_page/dma_unmap_page and the *_resource events are 6.12-6.17 names of
// what 6.18 calls dma_map_phys/dma_unmap_phys (MMIO mappings carry DMA_ATTR_MMIO).
#define DMA_HOOK(cat, tp, prog, ...) \
  { cat, tp, &DmaProgs::prog, ##__VA_ARGS__ }
constexpr DmaHook kDmaHooks[] = {
    DMA_HOOK("dma", "dma_map_phys", dma_map_phys),
    DMA_HOOK("dma", "dma_map_page", dma_map_page, "dma_map_phys"),
    DMA_HOOK("dma", "dma_map_resource", dma_map_resource, nullptr, "dma_map_phys"),
    DMA_HOOK("dma", "dma_unmap_phys", dma_unmap_phys),
    DMA_HOOK("dma", "dma_unmap_page", dma_unmap_page, "dma_unmap_phys"),
    DMA_HOOK("dma", "dma_unmap_resource", dma_unmap_resource, nullptr, "dma_unmap_phys"),
    DMA_HOOK("dma", "dma_map_sg", dma_map_sg),
    DMA_HOOK("dma", "dma_map_sg_err", dma_map_sg_err),
    DMA_HOOK("dma", "dma_unmap_sg", dma_unmap_sg),
    DMA_HOOK("dma", "dma_sync_single_for_cpu", dma_sync_single_for_cpu),
    DMA_HOOK("dma", "dma_sync_single_for_device", dma_sync_single_for_device),
    DMA_HOOK("dma", "dma_sync_sg_for_cpu", dma_sync_sg_for_cpu),
    DMA_HOOK("dma", "dma_sync_sg_for_device", dma_sync_sg_for_device),
    DMA_HOOK("dma", "dma_alloc", dma_alloc),
    DMA_HOOK("dma", "dma_alloc_pages", dma_alloc_pages),
    DMA_HOOK("dma", "dma_alloc_sgt", dma_alloc_sgt),
    DMA_HOOK("dma", "dma_alloc_sgt_err", dma_alloc_sgt_err),
    DMA_HOOK("dma", "dma_free", dma_free),
    DMA_HOOK("dma", "dma_free_pages", dma_free_pages),
    DMA_HOOK("dma", "dma_free_sgt", dma_free_sgt),
    DMA_HOOK("swiotlb", "swiotlb_bounced", swiotlb_bounced),
    DMA_HOOK("iommu", "map", iommu_map),
    DMA_HOOK("iommu", "unmap", iommu_unmap),
    DMA_HOOK("iommu", "io_page_fault", iommu_io_page_fault),
    DMA_HOOK("dma_fence", "dma_fence_init", dma_fence_init),
    DMA_HOOK("dma_fence", "dma_fence_emit", dma_fence_emit),
    DMA_HOOK("dma_fence", "dma_fence_signaled", dma_fence_signaled),
    DMA_HOOK("dma_fence", "dma_fence_destroy", dma_fence_destroy),
    DMA_HOOK("dma_fence", "dma_fence_enable_signal", dma_fence_enable_signal),
    DMA_HOOK("dma_fence", "dma_fence_wait_start", dma_fence_wait_start),
    DMA_HOOK("dma_fence", "dma_fence_wait_end", dma_fence_wait_end),
};
#undef DMA_HOOK

}  // namespace

CollectorTracepoints dma_tracepoints() {
  CollectorTracepoints c{"dma", {}, {{"dma", "dma_", "dma_fence_"}, {"dma_fence", "dma_fence_", ""}}};
  for (const DmaHook& h : kDmaHooks) {
    if (h.older_name_of) continue;
    TracepointSpec spec{h.category, {h.name}};
    if (h.replaced_by) spec.replaced_by = h.replaced_by;
    for (const DmaHook& o : kDmaHooks)
      if (o.older_name_of && std::string_view(o.older_name_of) == h.name) spec.names.emplace_back(o.name);
    c.events.push_back(std::move(spec));
  }
  for (const TracepointSpec& f : filter_tracepoints()) c.events.push_back(f);
  return c;
}

void configure_dma_for_kernel(dma_bpf* skel) {
  // 6.12: dma_alloc(dev, virt, dma, size, gfp, attrs) and dma_free(dev, virt, dma, size, attrs);
  // later kernels insert the direction after size.
  int alloc_args = kernel_tracepoint_arg_count("dma_alloc").value_or(-1);
  int free_args = kernel_tracepoint_arg_count("dma_free").value_or(-1);
  skel->rodata->have_bpf_loop = probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop) == 1;
  if (alloc_args > 0) skel->rodata->alloc_has_dir = alloc_args >= 7;
  if (free_args > 0) skel->rodata->free_has_dir = free_args >= 6;
  debug("dma: dma_alloc has {} args, dma_free {}", alloc_args, free_args);
}

struct DmaCollector::Owned {
  DmaSkeleton skel;
};

DmaCollector::DmaCollector() : owned_(std::make_unique<Owned>()) {}

DmaCollector::~DmaCollector() {
  hooks_.detach_all();  // links before the programs they point to
}

Result<std::unique_ptr<DmaCollector>> DmaCollector::open(const DmaConfig& cfg, const KernelFeatures& features,
                                                         const CountingWindow* window) {
  auto skel = DmaSkeleton::open("dma");
  if (!skel) return skel.error();
  std::unique_ptr<DmaCollector> c(new DmaCollector());
  dma_bpf* s = skel->get();
  configure_dma_for_kernel(s);
  set_filter_config(s, cfg.targets);
  hold_counting(s, true);  // until start(); an object given the run's window has that one's state
  // raw_tp only, like every dma program (the handlers also run under BPF_PROG_TEST_RUN).
  add_filter_hooks(c->hooks_, features, cfg.targets,
                   AITRACE_FILTER_PROGRAMS_OF(s, dma),
                   HookKind::raw_tp);
  for (const DmaHook& h : kDmaHooks) c->hooks_.add(features, h.category, h.name, {{HookKind::raw_tp, s->progs.*h.prog}});
  AITRACE_TRY(skel->load("dma", window));
  c->skel_ = s;
  c->owned_->skel = std::move(*skel);
  return c;
}

Status DmaCollector::attach(const ResolvedTargets& targets) {
  AITRACE_TRY(fill_filter_maps(skel_->maps.filter_tgids, skel_->maps.filter_tids, targets));
  hooks_.attach_all();
  return {};
}

void DmaCollector::start() { hold_counting(skel_, false); }

void DmaCollector::add_to(RunLoop& loop) {
  add_filter_sweep(loop, skel_, "dma");
}
void DmaCollector::stop() { hold_counting(skel_, true); }

}  // namespace aitrace
