#include "aitrace/core/programs_in_flight.hpp"

#include "aitrace/core/log.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aitrace {

bool wait_for_programs_in_flight() {
  // MEMBARRIER_CMD_GLOBAL is synchronize_rcu() (kernel/sched/membarrier.c). Tracepoint programs
  // run inside an RCU read-side section (preemption off, or rcu_read_lock in bpf_trace_run), so
  // the grace period ends only after each of them has.
  if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return true;
  debug("membarrier(MEMBARRIER_CMD_GLOBAL): {}; a final read may see a sample half-recorded",
        std::strerror(errno));
  return false;
}

}  // namespace aitrace
