// --by thread's statistics kept in each thread's task storage (bpf/sched_threads.bpf.h): live
// threads are read through the task iterator, retired ones from `thread_exits`, and both are added
// to their slot's group.
#pragma once

#include "aitrace/core/result.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "aitrace/sched_events.h"

#include <array>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

struct bpf_link;

namespace aitrace {

// One thread's statistics, decoded: what it adds to its group.
struct ThreadStats {
  SchedCounters counters;
  std::array<aitrace_sched_metric_stats, AITRACE_SCHED_METRICS> metrics{};
  std::array<std::vector<std::pair<uint32_t, uint64_t>>, AITRACE_SCHED_METRICS> buckets;  // unsorted
};

ThreadStats decode_thread_stats(const aitrace_sched_thread_stats& s);

// slot -> its thread's statistics.
using ThreadStatsBySlot = std::unordered_map<uint32_t, ThreadStats>;

// Every live thread's record from the task iterator behind `iter` into `out`.
Status read_live_threads(bpf_link* iter, ThreadStatsBySlot& out);

// Adds a thread's statistics to its group (g's min is meaningful only where g.count > 0).
void add_thread_stats(SchedGroup& g, const ThreadStats& t);

}  // namespace aitrace
