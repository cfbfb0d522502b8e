// `--by container` and `--by pod`: the kernel groups by cgroup (a container has a cgroup, and may
// have sub-cgroups of its own), and the reports merge those groups into one per container or
// pod, plus `host` for tasks in none and `removed` for cgroups gone before they were named
// (aitrace/core/cgroup_owner.hpp). The kernel's `other` group stays as it is.
#pragma once

#include "aitrace/core/cgroup_owner.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <map>
#include <string>

namespace aitrace {

struct SchedOwnerGroups {
  SchedSnapshot snapshot;                 // one group per owner; ids are a hash of the owner's key
  std::map<uint64_t, CgroupOwner> owner;  // by group id
};

// `by_cgroup`: a snapshot (or delta) grouped by cgroup; `paths`: the cgroups' paths as
// CgroupPaths resolved them. Counts and sums add up, buckets merge, min/max are the extremes.
SchedOwnerGroups sched_group_by_owner(const SchedSnapshot& by_cgroup, CgroupOwners& owners,
                                      const std::map<uint64_t, std::string>& paths);

}  // namespace aitrace
