// The pid namespace aitrace runs in. Pids are taken and shown as that namespace sees them
// (docs/containers.md, "pid namespaces"); the BPF side needs its level and inode number to map a
// task's pid there (bpf/common/pidns.bpf.h).
#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>

namespace aitrace {

// PROC_PID_INIT_INO: the inode number of the initial pid namespace (include/linux/proc_ns.h).
inline constexpr uint32_t kInitialPidNamespaceInode = 0xEFFFFFFCU;

struct PidNamespace {
  uint32_t level = 0;  // 0: the initial namespace
  uint32_t inum = kInitialPidNamespaceInode;
  bool initial() const { return level == 0; }
};

// The caller's pid namespace: its inode from /proc/self/ns/pid; in any namespace but the initial
// one, its level from the kernel (a BPF program run once, reading current's pid->level), since
// no file tells it. In the initial namespace nothing is loaded.
Result<PidNamespace> caller_pid_namespace();

// Whether /proc shows the caller's pid namespace: /proc/self names getpid(). After
// `unshare --pid --fork` without --mount-proc it still shows the parent's.
bool proc_matches_pid_namespace();

}  // namespace aitrace
