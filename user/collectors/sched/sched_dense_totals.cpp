#include "aitrace/sched/sched_dense_totals.hpp"

#include "aitrace/core/bpf_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace aitrace {
namespace {

// The kernel's per-CPU values are 8-byte aligned; 200 bytes already is, so a copy is one struct.
static_assert(sizeof(aitrace_sched_totals) % 8 == 0);

// One buffer entry per possible CPU, as a per-CPU map's lookup and update take (empty if unknown).
std::vector<aitrace_sched_totals> per_cpu_buffer() {
  const int ncpu = libbpf_num_possible_cpus();
  return std::vector<aitrace_sched_totals>(ncpu > 0 ? static_cast<size_t>(ncpu) : 0);
}

}  // namespace

Status seed_dense_totals(int fd, uint32_t slots) {
  auto copies = per_cpu_buffer();
  if (copies.empty()) return make_error(ErrorKind::runtime, "counting the possible CPUs failed");
  for (auto& c : copies)
    for (auto& m : c.metrics) m.min = ~0ULL;
  for (uint32_t slot = 0; slot < slots; slot++)
    if (bpf_map_update_elem(fd, &slot, copies.data(), BPF_ANY) != 0)
      return make_error(ErrorKind::runtime, "seeding the sched per-CPU totals: {}", bpf_error_text(-errno));
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

Result<aitrace_sched_totals> read_dense_totals(int fd, uint32_t slot) {
  auto copies = per_cpu_buffer();
  if (copies.empty()) return make_error(ErrorKind::runtime, "counting the possible CPUs failed");
  if (bpf_map_lookup_elem(fd, &slot, copies.data()) != 0)
    return make_error(ErrorKind::runtime, "reading the sched per-CPU totals: {}", bpf_error_text(-errno));
  return merge_totals(copies);
}

}  // namespace aitrace
