#include "aitrace/migrate/migrate_aggregate.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace aitrace {

MigrateCounts& MigrateCounts::operator+=(const MigrateCounts& o) {
  calls += o.calls;
  succeeded += o.succeeded;
  failed += o.failed;
  thp_succeeded += o.thp_succeeded;
  thp_failed += o.thp_failed;
  thp_split += o.thp_split;
  large_folio_split += o.large_folio_split;
  timed_calls += o.timed_calls;
  latency_sum_ns += o.latency_sum_ns;
  return *this;
}

MigrateCounts& MigrateCounts::operator-=(const MigrateCounts& o) {
  // Counters only grow; saturate rather than wrap if a key was ever deleted in between.
  auto sub = [](uint64_t& a, uint64_t b) { a = a > b ? a - b : 0; };
  sub(calls, o.calls);
  sub(succeeded, o.succeeded);
  sub(failed, o.failed);
  sub(thp_succeeded, o.thp_succeeded);
  sub(thp_failed, o.thp_failed);
  sub(thp_split, o.thp_split);
  sub(large_folio_split, o.large_folio_split);
  sub(timed_calls, o.timed_calls);
  sub(latency_sum_ns, o.latency_sum_ns);
  return *this;
}

MigrateSnapshot snapshot_delta(const MigrateSnapshot& now, const MigrateSnapshot& before) {
  auto sub = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  MigrateSnapshot d;
  // Keyed lookups, not a scan of `before` per row: a busy host has tens of thousands of rows,
  // and every -i tick takes this delta. (Rows are unique per key; duplicates would add up.)
  using StatsKey = std::tuple<uint32_t, int32_t, uint32_t, uint64_t>;
  std::map<StatsKey, MigrateCounts> earlier;
  for (const auto& b : before.stats) earlier[{b.tgid, b.reason, b.mode, b.cgroup_id}] += b.counts;
  for (const auto& row : now.stats) {
    MigrateStatsRow r = row;
    auto it = earlier.find({row.tgid, row.reason, row.mode, row.cgroup_id});
    if (it != earlier.end()) r.counts -= it->second;
    if (r.counts.calls) d.stats.push_back(std::move(r));
  }
  for (const auto& [reason, buckets] : now.latency) {
    auto bit = before.latency.find(reason);
    for (const auto& [b, n] : buckets) {
      uint64_t prev = 0;
      if (bit != before.latency.end()) {
        auto p = bit->second.find(b);
        if (p != bit->second.end()) prev = p->second;
      }
      if (n > prev) d.latency[reason][b] = n - prev;
    }
  }
  using NumaKey = std::tuple<uint32_t, int32_t, int32_t, uint32_t>;
  std::map<NumaKey, uint64_t> earlier_numa;
  for (const auto& b : before.numa) earlier_numa[{b.kind, b.src_cpu, b.dst_cpu, b.tgid}] += b.count;
  for (const auto& row : now.numa) {
    NumaMoveRow r = row;
    auto it = earlier_numa.find({row.kind, row.src_cpu, row.dst_cpu, row.tgid});
    if (it != earlier_numa.end()) r.count = sub(r.count, it->second);
    if (r.count) d.numa.push_back(r);
  }
  d.lost.stats_full = sub(now.lost.stats_full, before.lost.stats_full);
  d.lost.inflight_full = sub(now.lost.inflight_full, before.lost.inflight_full);
  d.lost.hist_full = sub(now.lost.hist_full, before.lost.hist_full);
  d.lost.numa_full = sub(now.lost.numa_full, before.lost.numa_full);
  d.lost.no_start = sub(now.lost.no_start, before.lost.no_start);
  d.fork_overflow = sub(now.fork_overflow, before.fork_overflow);
  d.ptes_set = sub(now.ptes_set, before.ptes_set);
  d.ptes_removed = sub(now.ptes_removed, before.ptes_removed);
  return d;
}

MigrateCounts migrate_totals(const MigrateSnapshot& s) {
  MigrateCounts t;
  for (const auto& r : s.stats) t += r.counts;
  return t;
}

std::map<int32_t, MigrateCounts> migrate_by_reason(const MigrateSnapshot& s) {
  std::map<int32_t, MigrateCounts> out;
  for (const auto& r : s.stats) out[r.reason] += r.counts;
  return out;
}

std::map<uint32_t, MigrateCounts> migrate_by_mode(const MigrateSnapshot& s, std::optional<int32_t> reason) {
  std::map<uint32_t, MigrateCounts> out;
  for (const auto& r : s.stats)
    if (!reason || r.reason == *reason) out[r.mode] += r.counts;
  return out;
}

std::vector<MigrateGroup> migrate_groups(const MigrateSnapshot& s, MigrateGroupBy by) {
  std::vector<MigrateGroup> out;
  if (by == MigrateGroupBy::none) return out;
  std::map<std::tuple<uint32_t, uint64_t, int32_t>, MigrateGroup> groups;
  for (const auto& r : s.stats) {
    std::tuple<uint32_t, uint64_t, int32_t> key{by == MigrateGroupBy::process ? r.tgid : 0,
                                                by == MigrateGroupBy::cgroup ? r.cgroup_id : 0,
                                                by == MigrateGroupBy::reason ? r.reason : 0};
    MigrateGroup& g = groups[key];
    g.tgid = std::get<0>(key);
    g.cgroup_id = std::get<1>(key);
    g.reason = std::get<2>(key);
    if (by == MigrateGroupBy::process && g.comm.empty()) g.comm = r.comm;
    g.counts += r.counts;
    g.reasons[r.reason] += r.counts;
  }
  for (auto& [k, g] : groups) out.push_back(std::move(g));
  std::stable_sort(out.begin(), out.end(), [](const MigrateGroup& a, const MigrateGroup& b) {
    if (a.counts.succeeded != b.counts.succeeded) return a.counts.succeeded > b.counts.succeeded;
    return a.counts.calls > b.counts.calls;
  });
  return out;
}

Histogram migrate_latency(const MigrateSnapshot& s, std::optional<int32_t> reason) {
  Histogram h = Histogram::bucketed();
  for (const auto& [r, buckets] : s.latency) {
    if (reason && r != *reason) continue;
    for (const auto& [b, n] : buckets) h.add_bucket(b, n);
  }
  uint64_t sum = 0;
  for (const auto& row : s.stats)
    if (!reason || row.reason == *reason) sum += row.counts.latency_sum_ns;
  h.add_sum(sum);
  return h;
}

const char* numa_kind_name(uint32_t kind) {
  switch (kind) {
    case AITRACE_NUMA_MOVE:
      return "move";
    case AITRACE_NUMA_SWAP:
      return "swap";
    case AITRACE_NUMA_STICK:
      return "stick";
    default:
      return "?";
  }
}

std::vector<NumaNodeMove> migrate_numa_by_node(const MigrateSnapshot& s, const MigrateHost& host) {
  std::map<std::tuple<uint32_t, int, int>, uint64_t> agg;
  for (const auto& r : s.numa) agg[{r.kind, host.node_of(r.src_cpu), host.node_of(r.dst_cpu)}] += r.count;
  std::vector<NumaNodeMove> out;
  out.reserve(agg.size());
  for (const auto& [k, n] : agg) out.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), n});
  return out;
}

uint64_t migrate_pages_for_reason(const MigrateSnapshot& s, const EnumNames& reasons, std::string_view name) {
  uint64_t n = 0;
  for (const auto& r : s.stats) {
    auto nm = reasons.find(r.reason);
    if (nm && *nm == name) n += r.counts.succeeded;
  }
  return n;
}

}  // namespace aitrace
