// merge_totals(): a dense slot's per-CPU copies (bpf/sched_groups.bpf.h, dense_totals) added up
// as the report needs them: every counter and every metric's count and sum summed, the least
// minimum and the greatest maximum, with a copy that saw no sample (minimum ~0, the seed) leaving
// both alone.
#include "aitrace/sched/sched_dense_totals.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace aitrace {
namespace {

constexpr uint64_t kNoMin = ~0ULL;

// A copy as seed_dense_totals() leaves it: no sample yet.
aitrace_sched_totals seeded() {
  aitrace_sched_totals t{};
  for (auto& m : t.metrics) m.min = kNoMin;
  return t;
}

// A copy whose every field is distinct, from `base`, so that a field merged from the wrong place
// or left out shows.
aitrace_sched_totals busy(uint64_t base) {
  aitrace_sched_totals t{};
  t.switches = base + 1;
  t.involuntary = base + 2;
  t.migrations = base + 3;
  t.numa_moves = base + 4;
  t.numa_swaps = base + 5;
  for (uint64_t m = 0; m < AITRACE_SCHED_METRICS; m++) {
    t.metrics[m].count = base + 10 + m;
    t.metrics[m].sum = base * 1000 + 100 + m;
    t.metrics[m].min = base + 20 + m;
    t.metrics[m].max = base * 10 + 30 + m;
  }
  return t;
}

TEST(SchedDenseTotals, AddsEveryCounterAndKeepsTheExtremes) {
  const std::array<aitrace_sched_totals, 3> cpus = {busy(1), seeded(), busy(7)};
  const aitrace_sched_totals t = merge_totals(cpus);
  EXPECT_EQ(t.switches, 2u + 8u);
  EXPECT_EQ(t.involuntary, 3u + 9u);
  EXPECT_EQ(t.migrations, 4u + 10u);
  EXPECT_EQ(t.numa_moves, 5u + 11u);
  EXPECT_EQ(t.numa_swaps, 6u + 12u);
  for (uint64_t m = 0; m < AITRACE_SCHED_METRICS; m++) {
    SCOPED_TRACE(m);
    EXPECT_EQ(t.metrics[m].count, (11 + m) + (17 + m));
    EXPECT_EQ(t.metrics[m].sum, (1100 + m) + (7100 + m));
    EXPECT_EQ(t.metrics[m].min, 21 + m);  // CPU 0's; the idle CPU's seed does not win
    EXPECT_EQ(t.metrics[m].max, 100 + m);  // CPU 2's
  }
}

TEST(SchedDenseTotals, ACopyWithoutSamplesLeavesTheOthersAlone) {
  const std::array<aitrace_sched_totals, 2> one_busy = {seeded(), busy(3)};
  const aitrace_sched_totals t = merge_totals(one_busy);
  const aitrace_sched_totals alone = busy(3);
  EXPECT_EQ(t.switches, alone.switches);
  EXPECT_EQ(t.numa_swaps, alone.numa_swaps);
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    EXPECT_EQ(t.metrics[m].count, alone.metrics[m].count);
    EXPECT_EQ(t.metrics[m].min, alone.metrics[m].min);
    EXPECT_EQ(t.metrics[m].max, alone.metrics[m].max);
  }
}

TEST(SchedDenseTotals, NoSampleAnywhereKeepsTheNoSampleMinimum) {
  for (const std::vector<aitrace_sched_totals>& cpus :
       {std::vector<aitrace_sched_totals>{}, std::vector<aitrace_sched_totals>{seeded(), seeded()}}) {
    const aitrace_sched_totals t = merge_totals(cpus);
    EXPECT_EQ(t.switches + t.involuntary + t.migrations + t.numa_moves + t.numa_swaps, 0u);
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      EXPECT_EQ(t.metrics[m].count, 0u);
      EXPECT_EQ(t.metrics[m].min, kNoMin);
      EXPECT_EQ(t.metrics[m].max, 0u);
    }
  }
}

}  // namespace
}  // namespace aitrace
