#include "aitrace/sched/sched_dense_totals.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/percpu_map.hpp"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace aitrace {

Status seed_dense_totals(int fd, uint32_t slots) {
  auto ncpu = possible_cpu_count();
  if (!ncpu) return ncpu.status();
  std::vector<aitrace_sched_totals> copies(*ncpu);
  for (auto& c : copies)
    for (auto& m : c.metrics) m.min = ~0ULL;
  for (uint32_t slot = 0; slot < slots; slot++)
    if (bpf_map_update_elem(fd, &slot, copies.data(), BPF_ANY) != 0)
      return make_error(ErrorKind::runtime, "seeding the sched per-CPU totals: {}", bpf_error_text(errno));
  return {};
}

aitrace_sched_totals merge_totals(std::span<const aitrace_sched_totals> per_cpu) {
  aitrace_sched_totals t{};
  for (auto& m : t.metrics) m.min = ~0ULL;
  for (const aitrace_sched_totals& c : per_cpu) {
    t.switches += c.switches;
    t.involuntary += c.involuntary;
    t.migrations += c.migrations;
    t.numa_moves += c.numa_moves;
    t.numa_swaps += c.numa_swaps;
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      t.metrics[m].count += c.metrics[m].count;
      t.metrics[m].sum += c.metrics[m].sum;
      t.metrics[m].min = std::min(t.metrics[m].min, c.metrics[m].min);
      t.metrics[m].max = std::max(t.metrics[m].max, c.metrics[m].max);
    }
  }
  return t;
}

Result<aitrace_sched_totals> read_dense_totals(int fd, uint32_t slot, std::vector<aitrace_sched_totals>& copies) {
  AITRACE_TRY(read_percpu(fd, &slot, copies, "the sched per-CPU totals"));
  return merge_totals(copies);
}

}  // namespace aitrace
