// Renderings of a sched snapshot: its keys of the aitrace.sched/2 JSON document (docs/sched.md;
// the driver adds the envelope) and the terminal report: one table row per group (the default),
// or with --hist every group's histograms with bars; worst groups first in both.
#pragma once

#include "aitrace/core/cgroup_owner.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace aitrace {

struct SchedReportOptions {
  SchedGroupBy group_by = SchedGroupBy::process;
  size_t top = 10;        // text: groups shown (JSON has all)
  bool hist = false;      // text: every histogram with its bars instead of the table
  bool interval = false;  // an interval report rather than the final summary
  uint64_t duration_ns = 0;                                // the span the report covers
  std::string span;                                        // its wall-clock text, for the final header
  std::map<uint64_t, std::string> cgroup_paths;            // for --by cgroup
  std::map<uint64_t, CgroupOwner> owners;                  // for --by container|pod, by group id
  std::vector<std::string> hook_notes;                     // hooks that did not attach, shown in every output
};

// Groups in report order: the longest single run-queue wait first (the larger max of
// runq_wakeup and runq_preempt), then the most run-queue wait in all, then the most on-CPU time;
// `other` stays in that order too (it is a group like the rest, only its key is synthetic).
std::vector<const SchedGroup*> sched_report_order(const SchedSnapshot& snap);
// What the order is by, for the text header.
inline constexpr const char* kSchedOrderText = "longest run-queue wait first";

// The compact view: one row per group (count, p50, p99, max of every metric; switches,
// involuntary switches, migrations), columns as wide as their cells.
std::string sched_table_text(const std::vector<const SchedGroup*>& groups, const SchedReportOptions& opts);

// --by container|pod (sched_owner_render.cpp): a group's owner as the --hist heading, as table
// cells under sched_owner_columns(), and as its JSON keys `owner`, `container` and `pod`.
std::string sched_owner_label(const SchedGroup& g, const SchedReportOptions& o);
std::vector<std::string> sched_owner_columns(SchedGroupBy by);
std::vector<std::string> sched_owner_cells(const SchedGroup& g, const SchedReportOptions& o);
void sched_owner_json(const CgroupOwner& w, nlohmann::json& kind, nlohmann::json& container, nlohmann::json& pod);

// The envelope's `lost` object.
nlohmann::json sched_lost_json(const SchedLost& lost);
// The collector's own keys: max_groups, groups, hooks_missing.
nlohmann::json sched_json(const SchedSnapshot& snap, const SchedReportOptions& opts);
std::string sched_text(const SchedSnapshot& snap, const SchedReportOptions& opts);

}  // namespace aitrace
