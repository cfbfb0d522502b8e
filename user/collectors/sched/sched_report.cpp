#include "aitrace/sched/sched_report.hpp"

#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace aitrace {
namespace {

uint64_t runq_wait(const SchedGroup& g) { return g.sum[AITRACE_SCHED_RUNQ_WAKEUP] + g.sum[AITRACE_SCHED_RUNQ_PREEMPT]; }

std::string group_label(const SchedGroup& g, const SchedReportOptions& o) {
  if (g.other) return "other (groups that did not fit)";
  std::string comm = escape_text(g.comm);
  switch (o.group_by) {
    case SchedGroupBy::thread:
      return fmt::format("thread {} ({}) of process {}", g.tid, comm, g.pid);
    case SchedGroupBy::process:
      return fmt::format("process {} ({})", g.pid, comm);
    case SchedGroupBy::cgroup: {
      auto it = o.cgroup_paths.find(g.id);
      return fmt::format("cgroup {}",
                         it != o.cgroup_paths.end() ? escape_text(it->second) : fmt::format("id {} (removed)", g.id));
    }
    case SchedGroupBy::comm:
      return fmt::format("comm {}", comm);
    case SchedGroupBy::none:
      return "all traced tasks";
    case SchedGroupBy::container:
    case SchedGroupBy::pod:
      return sched_owner_label(g, o);
  }
  return "?";
}

// Only what was lost, so a clean run reads `lost: none`; every non-zero count is always there.
std::string lost_text(const SchedLost& l, uint64_t capacity) {
  std::vector<std::string> parts;
  auto add = [&parts](uint64_t n, const std::string& what) {
    if (n) parts.push_back(fmt::format("{} {}", n, what));
  };
  add(l.groups_overflow, fmt::format("tasks to `other` (group map full at {})", capacity));
  add(l.hist_overflow, "histogram samples (hist map full)");
  add(l.task_state_missing, "events without task state");
  add(l.fork_overflow, "forks not followed");
  add(l.transitions_missed, "transitions missed");
  add(l.slow_events, "slow events (ring full)");
  add(l.thread_stats, "exited threads' statistics (no memory to keep them)");
  return parts.empty() ? "none" : fmt::format("{}", fmt::join(parts, ", "));
}

// The longest single run-queue wait of the group: the report's sort key.
uint64_t worst_runq_wait(const SchedGroup& g) {
  uint64_t worst = 0;
  for (int m : {AITRACE_SCHED_RUNQ_WAKEUP, AITRACE_SCHED_RUNQ_PREEMPT})
    if (g.count[m]) worst = std::max(worst, g.histogram(m).max());
  return worst;
}

std::string histograms_text(const std::vector<const SchedGroup*>& shown, const SchedReportOptions& o) {
  std::string out;
  for (const SchedGroup* g : shown) {
    const auto& c = g->counters;
    out += fmt::format("\n{}{}: runq wait {}, on-CPU {}, switches {}, involuntary {}, migrations {}",
                       group_label(*g, o), g->exited ? " [exited]" : "", format_ns(runq_wait(*g)),
                       format_ns(g->sum[AITRACE_SCHED_ONCPU]), c.switches, c.involuntary, c.migrations);
    if (c.numa_moves || c.numa_swaps) out += fmt::format(", NUMA moves {}, NUMA swaps {}", c.numa_moves, c.numa_swaps);
    out += "\n";
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      if (!g->count[m]) continue;
      out += histogram_text(g->histogram(m), kSchedMetricNames[m]);
    }
  }
  return out;
}

}  // namespace

nlohmann::json sched_lost_json(const SchedLost& l) {
  return {{"groups_overflow", l.groups_overflow},
          {"hist_overflow", l.hist_overflow},
          {"task_state_missing", l.task_state_missing},
          {"fork_overflow", l.fork_overflow},
          {"transitions_missed", l.transitions_missed},
          {"slow_events", l.slow_events},
          {"thread_stats", l.thread_stats}};
}

std::vector<const SchedGroup*> sched_report_order(const SchedSnapshot& snap) {
  struct Keyed {
    const SchedGroup* g;
    uint64_t worst;
  };
  std::vector<Keyed> keyed;
  for (const auto& g : snap.groups) {
    bool empty = !g.counters.switches && !g.counters.migrations && !g.counters.involuntary;
    for (auto c : g.count) empty &= c == 0;
    if (g.other && empty) continue;  // the seeded `other` is shown only once it is used
    keyed.push_back({&g, worst_runq_wait(g)});
  }
  // A total order (ids are unique), so std::sort is as stable as it needs to be.
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& ka, const Keyed& kb) {
    const SchedGroup *a = ka.g, *b = kb.g;
    if (ka.worst != kb.worst) return ka.worst > kb.worst;
    if (runq_wait(*a) != runq_wait(*b)) return runq_wait(*a) > runq_wait(*b);
    if (a->sum[AITRACE_SCHED_ONCPU] != b->sum[AITRACE_SCHED_ONCPU])
      return a->sum[AITRACE_SCHED_ONCPU] > b->sum[AITRACE_SCHED_ONCPU];
    return a->id < b->id;
  });
  std::vector<const SchedGroup*> out;
  out.reserve(keyed.size());
  for (const Keyed& k : keyed) out.push_back(k.g);
  return out;
}

nlohmann::json sched_json(const SchedSnapshot& snap, const SchedReportOptions& o) {
  nlohmann::json groups = nlohmann::json::array();
  for (const SchedGroup* g : sched_report_order(snap)) {
    nlohmann::json hists = nlohmann::json::object();
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      nlohmann::json h = histogram_json(g->histogram(m));
      // count and sum are exact even when buckets were lost to a full hist map.
      h["count"] = g->count[m];
      h["sum"] = g->sum[m];
      hists[kSchedMetricNames[m]] = std::move(h);
    }
    nlohmann::json cgroup = nullptr;
    if (o.group_by == SchedGroupBy::cgroup && !g->other) {
      auto it = o.cgroup_paths.find(g->id);
      cgroup = it != o.cgroup_paths.end() ? sanitize_utf8(it->second) : fmt::format("id:{}", g->id);
    }
    nlohmann::json owner = nullptr, container = nullptr, pod = nullptr;
    if (auto it = o.owners.find(g->id); it != o.owners.end() && !g->other)
      sched_owner_json(it->second, owner, container, pod);
    nlohmann::json j = {
        {"pid", g->pid},
        {"tid", o.group_by == SchedGroupBy::thread && !g->other ? nlohmann::json(g->tid) : nlohmann::json(nullptr)},
        {"comm", g->other ? std::string("other") : sanitize_utf8(g->comm)},
        {"cgroup", cgroup},
        {"owner", owner},
        {"container", container},
        {"pod", pod},
        {"histograms", std::move(hists)},
        {"counters",
         {{"switches", g->counters.switches},
          {"involuntary", g->counters.involuntary},
          {"migrations", g->counters.migrations},
          {"numa_moves", g->counters.numa_moves},
          {"numa_swaps", g->counters.numa_swaps}}},
        {"other", g->other},
        {"exited", g->exited},
    };
    if (o.group_by == SchedGroupBy::cgroup && !g->other) j["cgroup_id"] = g->id;
    groups.push_back(std::move(j));
  }
  nlohmann::json doc = {{"max_groups", snap.group_capacity}, {"groups", std::move(groups)}};
  if (!o.hook_notes.empty()) doc["hooks_missing"] = o.hook_notes;
  return doc;
}

std::string sched_text(const SchedSnapshot& snap, const SchedReportOptions& o) {
  auto order = sched_report_order(snap);
  const size_t shown = std::min(order.size(), o.top);
  std::string out;
  if (!o.interval)  // interval headers are the driver's
    out += fmt::format("aitrace sched: {} traced, {}, by {}, {} group{}, {}\n", format_ns(o.duration_ns), o.span,
                       sched_group_by_name(o.group_by), order.size(), order.size() == 1 ? "" : "s", kSchedOrderText);
  out += fmt::format("lost: {}\n", lost_text(snap.lost, snap.group_capacity));
  for (const auto& n : o.hook_notes) out += fmt::format("note: {}\n", n);
  const std::vector<const SchedGroup*> top(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown));
  if (o.hist)
    out += histograms_text(top, o);
  else if (!top.empty())
    out += "\n" + sched_table_text(top, o);
  if (order.size() > shown)
    out += fmt::format("{}({} more group{} not shown; --top N or --json for all)\n", o.hist ? "\n" : "",
                       order.size() - shown, order.size() - shown == 1 ? "" : "s");
  return out;
}

}  // namespace aitrace
