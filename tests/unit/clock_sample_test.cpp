// The pair of clock readings every report is lined up with (core/clock_sample.hpp), against the
// clocks read around it.
#include "aitrace/core/clock_sample.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace aitrace {
namespace {

int64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

TEST(ClockSample, EachReadingLiesBetweenTheReadingsAroundIt) {
  const int64_t u0 = now_ns(CLOCK_REALTIME), b0 = now_ns(CLOCK_BOOTTIME);
  const ClockSample s = sample_clocks();
  const int64_t b1 = now_ns(CLOCK_BOOTTIME), u1 = now_ns(CLOCK_REALTIME);
  EXPECT_LE(u0, s.unix_ns);
  EXPECT_LE(s.unix_ns, u1);
  EXPECT_LE(b0, static_cast<int64_t>(s.boot_ns));
  EXPECT_LE(static_cast<int64_t>(s.boot_ns), b1);
}

// The two clocks run at one rate (NTP slews CLOCK_REALTIME by at most 500 ppm: 50 us over these
// samples' ~0.1 s), so every pair has the same offset unless one paired two moments. Each pair's
// error is at most its bracket, and of five tries at least one is tight unless the thread was
// preempted five times in a row within ~100 ns windows; the median offset is the reference.
TEST(ClockSample, EveryPairHasTheSameOffsetBetweenTheClocks) {
  std::vector<int64_t> offsets;
  for (int i = 0; i < 1000; i++) {
    const ClockSample s = sample_clocks();
    offsets.push_back(s.unix_ns - static_cast<int64_t>(s.boot_ns));
  }
  std::vector<int64_t> sorted = offsets;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const int64_t median = sorted[sorted.size() / 2];
  for (int64_t o : offsets) EXPECT_NEAR(static_cast<double>(o), static_cast<double>(median), 1e6);
}

}  // namespace
}  // namespace aitrace
