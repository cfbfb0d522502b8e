// The sched collector's metrics for `aitrace serve`: each read's change since the previous one,
// per group, added to the exporter's store (aitrace/output/metric_store.hpp).
//
// Kernel groups live in slots that are matched by slot *and* group id, so a slot that ever held
// another group starts from zero instead of subtracting the old group's counts. A group is
// admitted to the store (or folded into `other`) once, when its slot is first seen; the kernel's
// own `other` slot (group map full) adds to the same `other` group.
#pragma once

#include "aitrace/core/cgroup_owner.hpp"
#include "aitrace/output/metric_store.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace aitrace {

class SchedMetrics {
 public:
  // cgroup_names: paths for --by cgroup (ids it cannot name are exported as their number), and
  // for --by container|pod, whose labels come from the path (cgroup_owner.hpp).
  using CgroupNames = std::function<std::map<uint64_t, std::string>(const std::set<uint64_t>&)>;
  // retire_after: refreshes after a group's tasks all exited (--by process or thread) before its
  // series end and its place under the cap is freed (MetricStore::retire); 0: never. The wait
  // lets scrapes see the group's final values first.
  SchedMetrics(SchedGroupBy by, CgroupNames cgroup_names = {}, uint32_t retire_after = 0);

  void add(const SchedSnapshot& now, MetricStore& store);

 private:
  void declare(MetricStore& store);
  MetricLabels group_labels(const SchedGroup& g, const std::map<uint64_t, std::string>& cgroups);

  SchedGroupBy by_;
  CgroupNames cgroup_names_;
  std::optional<CgroupOwners> owners_;  // --by container|pod
  bool declared_ = false;
  int runq_ = -1, oncpu_ = -1, offcpu_ = -1;
  int switches_ = -1, preemptions_ = -1, migrations_ = -1, numa_moves_ = -1, numa_swaps_ = -1;
  int lost_ = -1, kernel_folded_ = -1;
  void retire_exited(const SchedSnapshot& now, MetricStore& store);

  uint32_t retire_after_ = 0;
  uint64_t refresh_ = 0;
  struct Slot {
    uint64_t id = 0;
    MetricStore::Group group;
    std::optional<uint64_t> exited_at;  // the refresh that first saw the group exited
  };
  std::unordered_map<uint32_t, Slot> slots_;
  SchedSnapshot previous_;  // the last read, with only groups still in their slots
};

}  // namespace aitrace
