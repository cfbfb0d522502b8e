#include "aitrace/sched/sched_metrics.hpp"

#include <fmt/format.h>

#include <vector>

namespace aitrace {
namespace {

// --by container: container (its name, else its short id; "host" for tasks in no container,
// "removed" for cgroups gone before they were named), container_id and pod_uid ("" where there
// is none). --by pod: pod_uid ("host", "removed" likewise) and qos.
MetricLabels owner_labels(const CgroupOwner& o, bool by_pod) {
  if (by_pod) return {{"pod_uid", o.display()}, {"qos", o.what.qos}};
  return {{"container", o.display()}, {"container_id", o.what.id}, {"pod_uid", o.what.pod_uid}};
}

}  // namespace

SchedMetrics::SchedMetrics(SchedGroupBy by, CgroupNames cgroup_names, uint32_t retire_after)
    : by_(by), cgroup_names_(std::move(cgroup_names)), retire_after_(retire_after) {
  if (by == SchedGroupBy::container || by == SchedGroupBy::pod) owners_.emplace(by == SchedGroupBy::pod);
}

void SchedMetrics::declare(MetricStore& s) {
  runq_ = s.histogram("aitrace_sched_runqueue_wait_seconds",
                      "Time runnable tasks waited on a run queue before running, after a wakeup (kind=wakeup) or "
                      "after being preempted (kind=preemption)");
  oncpu_ = s.histogram("aitrace_sched_oncpu_seconds", "Time tasks ran on a CPU per switch-in");
  offcpu_ = s.histogram("aitrace_sched_offcpu_seconds",
                        "Time tasks were off-CPU asleep until their wakeup: interruptible sleep (state=S) or "
                        "uninterruptible (state=D)");
  switches_ = s.counter("aitrace_sched_switches", "Context switches onto a CPU");
  preemptions_ = s.counter("aitrace_sched_preemptions", "Switch-outs while still runnable (involuntary)");
  migrations_ = s.counter("aitrace_sched_migrations", "Task migrations between CPUs (sched_migrate_task)");
  numa_moves_ = s.counter("aitrace_sched_numa_moves", "NUMA balancing task moves (sched_move_numa)");
  numa_swaps_ = s.counter("aitrace_sched_numa_swaps", "NUMA balancing task swaps (sched_swap_numa, either side)");
  lost_ = s.counter("aitrace_sched_lost_events",
                    "Events or samples the sched collector could not account, by reason");
  kernel_folded_ = s.counter("aitrace_sched_group_map_full",
                             "Events of tasks counted in the other group because the kernel's group map was full");
  declared_ = true;
}

MetricLabels SchedMetrics::group_labels(const SchedGroup& g, const std::map<uint64_t, std::string>& cgroups) {
  switch (by_) {
    case SchedGroupBy::thread:
      return {{"tid", std::to_string(g.tid)}, {"comm", g.comm}};
    case SchedGroupBy::process:
      return {{"pid", std::to_string(g.pid)}, {"comm", g.comm}};
    case SchedGroupBy::comm:
      return {{"comm", g.comm}};
    case SchedGroupBy::cgroup: {
      auto it = cgroups.find(g.id);
      return {{"cgroup", it != cgroups.end() ? it->second : fmt::format("id:{}", g.id)}};
    }
    case SchedGroupBy::none:
      return {};
    case SchedGroupBy::container:
    case SchedGroupBy::pod:
      return owner_labels(owners_.value().of(g.id, cgroups), by_ == SchedGroupBy::pod);
  }
  return {};
}

void SchedMetrics::add(const SchedSnapshot& now, MetricStore& store) {
  if (!declared_) declare(store);
  // What the previous read held in a slot counts only if the same group is still there.
  SchedSnapshot before;
  before.duration_ns = previous_.duration_ns;
  before.lost = previous_.lost;
  std::unordered_map<uint32_t, uint64_t> now_ids;
  for (const SchedGroup& g : now.groups) now_ids[g.slot] = g.id;
  for (const SchedGroup& g : previous_.groups)
    if (auto it = now_ids.find(g.slot); it != now_ids.end() && it->second == g.id) before.groups.push_back(g);
  const SchedSnapshot d = sched_snapshot_delta(now, before);

  std::map<uint64_t, std::string> cgroups;
  if ((by_ == SchedGroupBy::cgroup || owners_) && cgroup_names_) {
    std::set<uint64_t> ids;
    for (const SchedGroup& g : d.groups)
      if (!g.other) ids.insert(g.id);
    cgroups = cgroup_names_(ids);
  }
  for (const SchedGroup& g : d.groups) {
    auto it = slots_.find(g.slot);
    if (it == slots_.end() || it->second.id != g.id) {
      const MetricLabels labels = group_labels(g, cgroups);
      it = slots_.insert_or_assign(g.slot, Slot{g.id, g.other ? store.other(labels) : store.admit(labels), {}}).first;
    }
    const MetricStore::Group grp = it->second.group;
    static const char* const kKinds[] = {"wakeup", "preemption"};
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      if (g.buckets[m].empty()) continue;
      uint64_t sum = g.sum[m];
      switch (m) {
        case AITRACE_SCHED_RUNQ_WAKEUP:
        case AITRACE_SCHED_RUNQ_PREEMPT:
          store.add_histogram(runq_, grp, {{"kind", kKinds[m]}}, g.buckets[m], sum);
          break;
        case AITRACE_SCHED_ONCPU:
          store.add_histogram(oncpu_, grp, {}, g.buckets[m], sum);
          break;
        case AITRACE_SCHED_OFFCPU_SLEEP:
          store.add_histogram(offcpu_, grp, {{"state", "S"}}, g.buckets[m], sum);
          break;
        case AITRACE_SCHED_OFFCPU_BLOCK:
          store.add_histogram(offcpu_, grp, {{"state", "D"}}, g.buckets[m], sum);
          break;
        default:  // the cases above are every metric index below AITRACE_SCHED_METRICS
          break;
      }
    }
    const SchedCounters& c = g.counters;
    if (c.switches) store.add(switches_, grp, {}, c.switches);
    if (c.involuntary) store.add(preemptions_, grp, {}, c.involuntary);
    if (c.migrations) store.add(migrations_, grp, {}, c.migrations);
    if (c.numa_moves) store.add(numa_moves_, grp, {}, c.numa_moves);
    if (c.numa_swaps) store.add(numa_swaps_, grp, {}, c.numa_swaps);
  }
  // Every reason is exported from the first scrape on, zero or not, so alerts need no absent().
  store.add(lost_, {{"reason", "hist_map_full"}}, d.lost.hist_overflow);
  store.add(lost_, {{"reason", "task_state_missing"}}, d.lost.task_state_missing);
  store.add(lost_, {{"reason", "fork_not_followed"}}, d.lost.fork_overflow);
  store.add(lost_, {{"reason", "transition_missed"}}, d.lost.transitions_missed);
  store.add(lost_, {{"reason", "thread_stats_not_kept"}}, d.lost.thread_stats);
  store.add(kernel_folded_, {}, d.lost.groups_overflow);
  previous_ = now;
  if (retire_after_) retire_exited(now, store);
  refresh_++;
}

// Only process and thread groups end (the kernel flags them when their last task exits; a reused
// pid is a new group, its id has the new task's start time). A retired slot keeps counting, in
// `other`: a late event of the dead group (its last switch-out) never restarts its series.
void SchedMetrics::retire_exited(const SchedSnapshot& now, MetricStore& store) {
  std::vector<MetricStore::Group> ending;
  for (const SchedGroup& g : now.groups) {
    if (!g.exited || g.other) continue;
    auto it = slots_.find(g.slot);
    if (it == slots_.end() || it->second.id != g.id || it->second.group.folded) continue;
    Slot& s = it->second;
    if (!s.exited_at) s.exited_at = refresh_;
    if (refresh_ - *s.exited_at + 1 < retire_after_) continue;
    ending.push_back(s.group);
    s.group = store.other(group_labels(g, {}));
  }
  store.retire(ending);
}

}  // namespace aitrace
