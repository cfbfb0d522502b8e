// Reads the dma collector's maps into a DmaSnapshot; interval deltas; fence ops symbols.
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/dma/dma.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/core/percpu_map.hpp"
#include "dma.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <functional>

namespace aitrace {
namespace {

// Counter structs are all __u64 (dma_events.h), so they combine word by word.
template <typename T, typename Op>
void combine(T& a, const T& b, Op op) {
  static_assert(sizeof(T) % 8 == 0);
  uint64_t wa[sizeof(T) / 8], wb[sizeof(T) / 8];
  std::memcpy(wa, &a, sizeof(T));
  std::memcpy(wb, &b, sizeof(T));
  for (size_t i = 0; i < sizeof(T) / 8; i++) wa[i] = op(wa[i], wb[i]);
  std::memcpy(&a, wa, sizeof(T));
}

template <typename T>
void subtract(T& a, const T& b) {
  combine(a, b, std::minus<uint64_t>());
}

template <typename T>
void add(T& a, const T& b) {
  combine(a, b, std::plus<uint64_t>());
}

// Visits every (key, value) of a hash map; for per-CPU maps the value is summed over CPUs.
template <typename K, typename V, typename F>
Status for_each_entry(bpf_map* map, bool percpu, F&& fn) {
  size_t ncpu = 1;
  if (percpu) {
    auto n = possible_cpu_count();
    if (!n) return n.status();
    ncpu = *n;
  }
  for_each_map_values<K, V>(bpf_map__fd(map), static_cast<int>(ncpu), [&](const K& key, const std::vector<V>& values) {
    V sum = values[0];
    for (size_t c = 1; c < values.size(); c++) add(sum, values[c]);
    fn(key, sum);
  });
  return {};
}

template <typename V>
Status read_percpu_array0(bpf_map* map, V& out) {
  std::vector<V> values;
  const uint32_t zero = 0;
  AITRACE_TRY(read_percpu(bpf_map__fd(map), &zero, values, bpf_map__name(map)));
  out = V{};
  for (const V& v : values) add(out, v);
  return {};
}

}  // namespace

uint64_t DmaSnapshot::unmatched_unmaps() const {
  uint64_t n = 0;
  for (const auto& [_, d] : devices)
    for (const auto& s : d.dirs) n += s.unmap_unmatched;
  return n;
}

uint64_t DmaSnapshot::total_swiotlb_count() const {
  uint64_t n = 0;
  for (const auto& [_, d] : devices) n += d.dev.swiotlb_count;
  return n;
}

uint64_t DmaSnapshot::total_swiotlb_bytes() const {
  uint64_t n = 0;
  for (const auto& [_, d] : devices) n += d.dev.swiotlb_bytes;
  return n;
}

DmaSnapshot dma_delta(const DmaSnapshot& now, const DmaSnapshot& before) {
  DmaSnapshot d = now;
  for (auto& [id, dev] : d.devices) {
    auto it = before.devices.find(id);
    if (it == before.devices.end()) continue;
    for (int i = 0; i < AITRACE_DMA_DIRS; i++) {
      subtract(dev.dirs[i], it->second.dirs[i]);
      subtract(dev.lifetime[i], it->second.lifetime[i]);
    }
    subtract(dev.dev, it->second.dev);
  }
  for (auto& [tid, w] : d.waiters) {
    auto it = before.waiters.find(tid);
    if (it != before.waiters.end()) subtract(w.hist, it->second.hist);
  }
  for (auto& [key, t] : d.timelines) {
    auto it = before.timelines.find(key);
    if (it != before.timelines.end()) subtract(t.hist, it->second.hist);
  }
  subtract(d.iommu, before.iommu);
  subtract(d.fence, before.fence);
  subtract(d.lost, before.lost);
  d.fork_overflow -= before.fork_overflow;
  return d;
}

Result<DmaSnapshot> read_dma_snapshot(dma_bpf* skel, FenceSymbols* symbols) {
  DmaSnapshot snap;
  AITRACE_TRY((for_each_entry<__u64, aitrace_dma_dev_name>(
      skel->maps.dma_dev_names, false, [&](const __u64& dev, const aitrace_dma_dev_name& n) {
        auto& d = snap.devices[dev];
        d.name = std::string(kernel_string(n.name, sizeof(n.name)));
        d.driver = std::string(kernel_string(n.driver, sizeof(n.driver)));
      })));
  AITRACE_TRY((for_each_entry<aitrace_dma_dir_key, aitrace_dma_dir_stats>(
      skel->maps.dma_dir_stats, true, [&](const aitrace_dma_dir_key& k, const aitrace_dma_dir_stats& s) {
        if (k.dir < AITRACE_DMA_DIRS) snap.devices[k.dev].dirs[k.dir] = s;
      })));
  AITRACE_TRY((for_each_entry<__u64, aitrace_dma_dev_stats>(
      skel->maps.dma_dev_stats, true,
      [&](const __u64& dev, const aitrace_dma_dev_stats& s) { snap.devices[dev].dev = s; })));
  AITRACE_TRY((for_each_entry<aitrace_dma_dir_key, aitrace_dma_hist>(
      skel->maps.dma_lifetime, false, [&](const aitrace_dma_dir_key& k, const aitrace_dma_hist& h) {
        if (k.dir < AITRACE_DMA_DIRS) snap.devices[k.dev].lifetime[k.dir] = h;
      })));
  AITRACE_TRY((for_each_entry<__u32, aitrace_dma_waiter>(
      skel->maps.dma_waiters, false, [&](const __u32& tid, const aitrace_dma_waiter& w) {
        auto& out = snap.waiters[tid];
        out.tgid = w.tgid;
        out.comm = std::string(kernel_string(w.comm, sizeof(w.comm)));
        out.hist = w.hist;
      })));
  std::vector<std::pair<uint64_t, uint64_t>> fence_ops;  // (ops, get_driver_name), by timeline
  std::vector<DmaTimeline*> named;
  AITRACE_TRY((for_each_entry<aitrace_dma_timeline_key, aitrace_dma_timeline>(
      skel->maps.dma_timelines, false, [&](const aitrace_dma_timeline_key& k, const aitrace_dma_timeline& t) {
        auto& out = snap.timelines[{k.ops, k.context}];
        out.context = k.context;
        out.hist = t.hist;
        out.driver.assign(1, '?');  // GCC 12 misreports = "?" as overlapping (-Wrestrict)
        fence_ops.emplace_back(k.ops, t.get_driver_name);
        named.push_back(&out);
      })));
  if (symbols) {
    symbols->resolve(fence_ops);  // one kallsyms read at most, and none once all are known
    for (size_t i = 0; i < named.size(); i++) named[i]->driver = symbols->driver(fence_ops[i].first, fence_ops[i].second);
  }
  AITRACE_TRY(read_percpu_array0(skel->maps.dma_iommu, snap.iommu));
  AITRACE_TRY(read_percpu_array0(skel->maps.dma_fence_counts, snap.fence));
  snap.lost = skel->bss->dma_lost;
  snap.fork_overflow = skel->bss->filter_fork_overflow;
  return snap;
}

}  // namespace aitrace

namespace aitrace {

Result<DmaSnapshot> read_dma_snapshot(dma_bpf* skel, bool symbolize) {
  FenceSymbols symbols;
  return read_dma_snapshot(skel, symbolize ? &symbols : nullptr);
}

}  // namespace aitrace
