// The collector's keys of the aitrace.migrate/2 JSON document (docs/migrate.md); the driver adds
// the envelope.
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"
#include "aitrace/migrate/migrate_aggregate.hpp"

namespace aitrace {

using nlohmann::json;

namespace {

json counts_json(const MigrateCounts& c) {
  return json{{"calls", c.calls},
              {"pages_succeeded", c.succeeded},
              {"pages_failed", c.failed},
              {"thp_succeeded", c.thp_succeeded},
              {"thp_failed", c.thp_failed},
              {"thp_split", c.thp_split},
              {"large_folio_split", c.large_folio_split},
              {"latency_mean_ns", c.timed_calls ? c.latency_sum_ns / c.timed_calls : 0}};
}

std::string reason_key(const MigrateReportContext& ctx, int32_t reason) {
  return ctx.reasons ? ctx.reasons->name(reason) : std::to_string(reason);
}
std::string mode_key(const MigrateReportContext& ctx, uint32_t mode) {
  return ctx.modes ? ctx.modes->name(mode) : std::to_string(mode);
}

}  // namespace

const char* migrate_group_by_name(MigrateGroupBy by) {
  switch (by) {
    case MigrateGroupBy::process:
      return "process";
    case MigrateGroupBy::cgroup:
      return "cgroup";
    case MigrateGroupBy::reason:
      return "reason";
    case MigrateGroupBy::none:
      return "none";
  }
  return "?";
}

std::string numa_single_node_note() {
  return "single NUMA node: NUMA balancing cannot move tasks or pages between nodes on this host";
}

json migrate_lost_json(const MigrateSnapshot& s) {
  return json{{"stats_map_full", s.lost.stats_full},  {"inflight_map_full", s.lost.inflight_full},
              {"latency_map_full", s.lost.hist_full}, {"numa_map_full", s.lost.numa_full},
              {"fork_follow_full", s.fork_overflow},  {"calls_without_start", s.lost.no_start}};
}

json migrate_json(const MigrateSnapshot& s, const MigrateReportContext& ctx) {
  json j;
  MigrateCounts t = migrate_totals(s);
  json totals = counts_json(t);
  totals["migration_ptes_set"] = s.ptes_set;
  totals["migration_ptes_removed"] = s.ptes_removed;
  j["totals"] = totals;
  j["latency"] = histogram_json(migrate_latency(s));

  json by_reason = json::object();
  for (const auto& [reason, c] : migrate_by_reason(s)) {
    json r = counts_json(c);
    r["reason"] = reason;
    r["latency"] = histogram_json(migrate_latency(s, reason));
    json modes = json::object();
    for (const auto& [mode, mc] : migrate_by_mode(s, reason)) modes[mode_key(ctx, mode)] = counts_json(mc);
    r["by_mode"] = modes;
    by_reason[reason_key(ctx, reason)] = r;
  }
  j["by_reason"] = by_reason;
  json by_mode = json::object();
  for (const auto& [mode, c] : migrate_by_mode(s)) {
    json m = counts_json(c);
    m["mode"] = mode;
    by_mode[mode_key(ctx, mode)] = m;
  }
  j["by_mode"] = by_mode;

  json groups = json::array();
  for (const auto& g : migrate_groups(s, ctx.by)) {
    json e = counts_json(g.counts);
    if (ctx.by == MigrateGroupBy::process) {
      e["pid"] = g.tgid;
      e["comm"] = sanitize_utf8(g.comm);
    } else if (ctx.by == MigrateGroupBy::cgroup) {
      e["cgroup_id"] = g.cgroup_id;
      auto it = ctx.cgroup_paths.find(g.cgroup_id);
      if (it != ctx.cgroup_paths.end()) e["cgroup"] = sanitize_utf8(it->second);
    } else {
      e["reason"] = reason_key(ctx, g.reason);
      e["reason_value"] = g.reason;
    }
    json reasons = json::object();
    for (const auto& [reason, c] : g.reasons) reasons[reason_key(ctx, reason)] = counts_json(c);
    e["reasons"] = reasons;
    groups.push_back(e);
  }
  j["groups"] = groups;

  json numa{{"nodes", ctx.host.numa_nodes}};
  numa["balancing"] = ctx.host.numa_balancing ? json(*ctx.host.numa_balancing) : json(nullptr);
  if (ctx.host.numa_nodes <= 1) numa["note"] = numa_single_node_note();
  j["numa"] = numa;
  json moves = json::array();
  for (const auto& m : migrate_numa_by_node(s, ctx.host))
    moves.push_back(
        json{{"kind", numa_kind_name(m.kind)}, {"src_node", m.src_node}, {"dst_node", m.dst_node}, {"count", m.count}});
  j["numa_moves"] = moves;
  j["remarks"] = migrate_remarks(s, ctx);
  return j;
}

}  // namespace aitrace
