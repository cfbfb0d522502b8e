// One moment read on the two clocks a report is lined up with: CLOCK_REALTIME (a job's own log,
// `date`) and CLOCK_BOOTTIME (bpf_ktime_get_boot_ns(), Perfetto's default trace clock). The
// real-time read is bracketed by two boot-time reads, and the boot time is their midpoint; of up
// to five tries the tightest bracket wins, so a preemption between two reads does not pair two
// moments. (Read plainly back to back, a report's real-time and boot-time spans differed by
// 3.5 ms in a CI run's 6.12 TCG guest, where a vCPU can be parked between any two instructions.)
#pragma once

#include <time.h>

#include <cstdint>

namespace aitrace {

struct ClockSample {
  int64_t unix_ns = 0;   // CLOCK_REALTIME: ns since 1970-01-01 UTC
  uint64_t boot_ns = 0;  // CLOCK_BOOTTIME: ns since boot, suspend included
};

ClockSample sample_clocks();

// One clock's reading in ns (its epoch: 1970 for CLOCK_REALTIME, boot for CLOCK_BOOTTIME).
int64_t clock_ns(clockid_t id);

}  // namespace aitrace
