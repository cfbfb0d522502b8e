// Dense slots' totals, one copy per CPU in `dense_totals` (bpf/sched_groups.bpf.h): seeded at
// load and added up at every read.
#pragma once

#include "aitrace/core/result.hpp"
#include "aitrace/sched_events.h"

#include <cstdint>
#include <span>
#include <vector>

namespace aitrace {

// Every CPU's copy of slots [0, slots) with its minima at ~0, the "no sample yet" that
// store_min() compares against (a zeroed copy would keep a minimum of 0 forever).
Status seed_dense_totals(int fd, uint32_t slots);

// One slot's copies added up: counts, sums and counters summed, the least minimum, the greatest
// maximum (a minimum stays ~0 where no CPU had a sample).
aitrace_sched_totals merge_totals(std::span<const aitrace_sched_totals> per_cpu);

// Slot `slot`'s copies from `fd`, merged; `copies` is the read's buffer, reused across slots.
Result<aitrace_sched_totals> read_dense_totals(int fd, uint32_t slot, std::vector<aitrace_sched_totals>& copies);

}  // namespace aitrace
