#include "aitrace/core/clock_sample.hpp"

#include <time.h>

#include <limits>

namespace aitrace {
int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);  // cannot fail for the clocks aitrace reads (Linux 2.6.39+)
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

// A bracket this tight names one instant well enough; a wider one had the thread preempted (or,
// in a TCG guest, its vCPU parked for up to the 100 ms round-robin) between the reads.
constexpr int64_t kTightNs = 20'000;
constexpr int kTries = 5;

}  // namespace

ClockSample sample_clocks() {
  ClockSample best;
  int64_t best_width = std::numeric_limits<int64_t>::max();
  for (int i = 0; i < kTries && best_width > kTightNs; i++) {
    const int64_t b0 = clock_ns(CLOCK_BOOTTIME), u = clock_ns(CLOCK_REALTIME), b1 = clock_ns(CLOCK_BOOTTIME);
    if (b1 - b0 < best_width) {
      best_width = b1 - b0;
      best.unix_ns = u;
      best.boot_ns = static_cast<uint64_t>(b0 + (b1 - b0) / 2);
    }
  }
  return best;
}

}  // namespace aitrace
