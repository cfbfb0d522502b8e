// Shared by the workloads that put every thread on one CPU (sched_truth, step_log).
#pragma once

#include <sched.h>

namespace workload {

// Pins the calling thread (and the threads it starts later) to CPU `wanted`, or to the highest
// allowed CPU when `wanted` < 0. Returns the CPU, or -1 when the affinity calls fail.
inline int pin_to_one_cpu(int wanted) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
  int cpu = wanted;
  if (cpu < 0)
    for (int i = 0; i < CPU_SETSIZE; i++)
      if (CPU_ISSET(i, &allowed)) cpu = i;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return -1;
  return cpu;
}

}  // namespace workload
