// One moment read on the two clocks a report is lined up with: CLOCK_REALTIME (a job's own log,
// `date`) and CLOCK_BOOTTIME (bpf_ktime_get_boot_ns(), Perfetto's default trace clock). Read back
// to back, so the pair names the same instant to within the cost of one clock read.
#pragma once

#include <cstdint>

namespace aitrace {

struct ClockSample {
  int64_t unix_ns = 0;   // CLOCK_REALTIME: ns since 1970-01-01 UTC
  uint64_t boot_ns = 0;  // CLOCK_BOOTTIME: ns since boot, suspend included
};

ClockSample sample_clocks();

}  // namespace aitrace
