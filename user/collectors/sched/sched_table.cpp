// `aitrace sched`'s default text view: one row per group, as `perf sched latency` prints one
// line per task. Every number is the one the JSON document has for the group (count exact,
// p50/p99/max from the same histogram), only rounded to three digits.
#include "aitrace/output/escape.hpp"
#include "aitrace/output/text_table.hpp"
#include "aitrace/sched/sched_report.hpp"

#include <fmt/format.h>

#include <array>

namespace aitrace {
namespace {

// The titles over each metric's columns, in kSchedMetricNames order.
constexpr std::array<const char*, AITRACE_SCHED_METRICS> kMetricTitles = {
    "runq after wakeup", "runq after preemption", "on-CPU", "off-CPU sleep", "off-CPU blocked (D)"};

std::vector<TextTable::Column> label_columns(SchedGroupBy by) {
  using A = TextTable::Align;
  switch (by) {
    case SchedGroupBy::thread:
      return {{"TID", A::right}, {"PID", A::right}, {"COMM", A::left}};
    case SchedGroupBy::process:
      return {{"PID", A::right}, {"COMM", A::left}};
    case SchedGroupBy::cgroup:
      return {{"CGROUP", A::left}};
    case SchedGroupBy::comm:
      return {{"COMM", A::left}};
    case SchedGroupBy::none:
      return {{"GROUP", A::left}};
    case SchedGroupBy::container:
    case SchedGroupBy::pod: {
      std::vector<TextTable::Column> cols;
      for (const std::string& title : sched_owner_columns(by)) cols.push_back({title, A::left});
      return cols;
    }
  }
  return {};
}

std::vector<std::string> label_cells(const SchedGroup& g, const SchedReportOptions& o) {
  const std::string exited = g.exited ? " [exited]" : "";
  if (g.other) {
    std::vector<std::string> cells(label_columns(o.group_by).size(), "-");
    cells.back() = "other (groups that did not fit)";  // as in --hist
    return cells;
  }
  const std::string comm = escape_text(g.comm) + exited;
  switch (o.group_by) {
    case SchedGroupBy::thread:
      return {std::to_string(g.tid), std::to_string(g.pid), comm};
    case SchedGroupBy::process:
      return {std::to_string(g.pid), comm};
    case SchedGroupBy::cgroup: {
      auto it = o.cgroup_paths.find(g.id);
      return {(it != o.cgroup_paths.end() ? escape_text(it->second) : fmt::format("id {} (removed)", g.id)) + exited};
    }
    case SchedGroupBy::comm:
      return {comm};
    case SchedGroupBy::none:
      return {"all traced tasks"};
    case SchedGroupBy::container:
    case SchedGroupBy::pod:
      return sched_owner_cells(g, o);
  }
  return {};
}

}  // namespace

std::string sched_table_text(const std::vector<const SchedGroup*>& groups, const SchedReportOptions& o) {
  using A = TextTable::Align;
  std::vector<TextTable::Column> cols = label_columns(o.group_by);
  for (const char* title : kMetricTitles) {
    cols.push_back({"count", A::right, true, title});
    for (const char* h : {"p50", "p99", "max"}) cols.push_back({h, A::right});
  }
  cols.push_back({"switches", A::right, true});
  cols.push_back({"invol", A::right});
  cols.push_back({"migr", A::right});
  bool numa = false;
  for (const SchedGroup* g : groups) numa |= g->counters.numa_moves || g->counters.numa_swaps;
  if (numa) {
    cols.push_back({"numa-moves", A::right});
    cols.push_back({"numa-swaps", A::right});
  }

  TextTable table(cols);
  for (const SchedGroup* g : groups) {
    std::vector<std::string> cells = label_cells(*g, o);
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      if (!g->count[m]) {
        cells.insert(cells.end(), 4, "-");
        continue;
      }
      const Histogram h = g->histogram(m);
      cells.push_back(std::to_string(g->count[m]));
      cells.push_back(format_ns_short(h.percentile(0.50)));
      cells.push_back(format_ns_short(h.percentile(0.99)));
      cells.push_back(format_ns_short(h.max()));
    }
    const SchedCounters& c = g->counters;
    for (uint64_t v : {c.switches, c.involuntary, c.migrations}) cells.push_back(std::to_string(v));
    if (numa)
      for (uint64_t v : {c.numa_moves, c.numa_swaps}) cells.push_back(std::to_string(v));
    table.add_row(std::move(cells));
  }
  return table.render();
}

}  // namespace aitrace
