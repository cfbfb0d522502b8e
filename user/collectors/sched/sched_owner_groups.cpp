#include "aitrace/sched/sched_owner_groups.hpp"

#include <algorithm>
#include <unordered_map>

namespace aitrace {
namespace {

// FNV-1a: a stable id per owner key, so the reports' tie-break order does not depend on which
// cgroup of a container was read first.
uint64_t key_id(const std::string& key) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h == AITRACE_SCHED_GROUP_OTHER ? h + 1 : h;
}

std::vector<std::pair<uint32_t, uint64_t>> merge_buckets(const std::vector<std::pair<uint32_t, uint64_t>>& a,
                                                         const std::vector<std::pair<uint32_t, uint64_t>>& b) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].first < a[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back(a[i].first, a[i].second + b[j].second);
      i++;
      j++;
    }
  }
  return out;
}

void add_into(SchedGroup& to, const SchedGroup& g) {
  to.counters += g.counters;
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    if (g.count[m]) {
      to.min[m] = to.count[m] ? std::min(to.min[m], g.min[m]) : g.min[m];
      to.max[m] = std::max(to.max[m], g.max[m]);
    }
    to.count[m] += g.count[m];
    to.sum[m] += g.sum[m];
    to.buckets[m] = merge_buckets(to.buckets[m], g.buckets[m]);
  }
  to.min_max_known = to.min_max_known && g.min_max_known;
  to.exited = to.exited && g.exited;
}

}  // namespace

SchedOwnerGroups sched_group_by_owner(const SchedSnapshot& by_cgroup, CgroupOwners& owners,
                                      const std::map<uint64_t, std::string>& paths) {
  SchedOwnerGroups out;
  out.snapshot.duration_ns = by_cgroup.duration_ns;
  out.snapshot.lost = by_cgroup.lost;
  out.snapshot.group_capacity = by_cgroup.group_capacity;
  out.snapshot.slow = by_cgroup.slow;
  std::unordered_map<uint64_t, size_t> index;  // group id -> position in out.snapshot.groups
  for (const SchedGroup& g : by_cgroup.groups) {
    if (g.other) {
      out.snapshot.groups.push_back(g);
      continue;
    }
    const CgroupOwner& o = owners.of(g.id, paths);
    const uint64_t id = key_id(o.key());
    auto [it, fresh] = index.try_emplace(id, out.snapshot.groups.size());
    if (fresh) {
      SchedGroup first = g;
      first.id = id;
      first.cgroup_id = 0;  // a container may span several cgroups
      out.snapshot.groups.push_back(std::move(first));
      out.owner.emplace(id, o);
    } else {
      add_into(out.snapshot.groups[it->second], g);
    }
  }
  return out;
}

}  // namespace aitrace
