// How many NUMA nodes this host can ever have. NUMA balancing moves a task only from one node
// to another, so where a single node is possible its tracepoints (sched_move_numa,
// sched_swap_numa) never fire, and a collector can leave their programs unloaded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aitrace {

// The nodes in a kernel node list as sysfs prints it ("0", "0-3", "0,2-3", with or without a
// trailing newline); nullopt when the text is not such a list.
std::optional<unsigned> count_node_list(std::string_view list);

// The possible nodes of a host whose sysfs is at `sys_root` ("/sys"): its
// devices/system/node/possible. 1 where the kernel has no NUMA support (devices/system/cpu
// exists but devices/system/node does not); nullopt when sysfs does not say.
std::optional<unsigned> possible_numa_nodes(const std::string& sys_root = "/sys");

}  // namespace aitrace
