#include "aitrace/core/clock_sample.hpp"

#include <time.h>

namespace aitrace {
namespace {

int64_t read_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);  // cannot fail for these two clocks (Linux 2.6.39+)
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

ClockSample sample_clocks() {
  ClockSample s;
  s.unix_ns = read_ns(CLOCK_REALTIME);
  s.boot_ns = static_cast<uint64_t>(read_ns(CLOCK_BOOTTIME));
  return s;
}

}  // namespace aitrace
