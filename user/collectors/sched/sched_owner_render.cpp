// How `--by container` and `--by pod` groups are named in text and JSON. Owner names come from
// cgroup paths and runtime metadata, which anyone who can create a cgroup or name a container
// writes: text escapes them, JSON makes them valid UTF-8.
#include "aitrace/output/escape.hpp"
#include "aitrace/sched/sched_report.hpp"

#include <fmt/format.h>

namespace aitrace {
namespace {

const CgroupOwner* owner_of(const SchedGroup& g, const SchedReportOptions& o) {
  auto it = o.owners.find(g.id);
  return it == o.owners.end() ? nullptr : &it->second;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : escape_text(s); }

}  // namespace

std::string sched_owner_label(const SchedGroup& g, const SchedReportOptions& o) {
  const CgroupOwner* w = owner_of(g, o);
  if (!w) return fmt::format("id {}", g.id);
  switch (w->kind) {
    case CgroupOwner::Kind::host:
      return o.group_by == SchedGroupBy::pod ? "host (tasks in no pod)" : "host (tasks in no container)";
    case CgroupOwner::Kind::removed:
      return "removed (cgroups gone before they were named)";
    case CgroupOwner::Kind::container: {
      std::string s = fmt::format("container {} ({} {}", or_dash(w->name), w->what.runtime, w->what.id.substr(0, 12));
      if (!w->what.pod_uid.empty()) s += fmt::format(", pod {} {}", escape_text(w->what.pod_uid), w->what.qos);
      return s + ")";
    }
    case CgroupOwner::Kind::pod:
      return fmt::format("pod {} ({})", escape_text(w->what.pod_uid), w->what.qos);
  }
  return "?";
}

std::vector<std::string> sched_owner_columns(SchedGroupBy by) {
  if (by == SchedGroupBy::pod) return {"POD", "QOS"};
  return {"CONTAINER", "NAME", "RUNTIME", "POD"};
}

std::vector<std::string> sched_owner_cells(const SchedGroup& g, const SchedReportOptions& o) {
  const CgroupOwner* w = owner_of(g, o);
  std::vector<std::string> cells(sched_owner_columns(o.group_by).size(), "-");
  if (!w) return cells;
  switch (w->kind) {
    case CgroupOwner::Kind::host:
      cells[0] = "host";
      break;
    case CgroupOwner::Kind::removed:
      cells[0] = "removed";
      break;
    case CgroupOwner::Kind::container:
      cells = {w->what.id.substr(0, 12), or_dash(w->name), w->what.runtime, or_dash(w->what.pod_uid)};
      break;
    case CgroupOwner::Kind::pod:
      cells = {escape_text(w->what.pod_uid), w->what.qos};
      break;
  }
  return cells;
}

void sched_owner_json(const CgroupOwner& w, nlohmann::json& kind, nlohmann::json& container, nlohmann::json& pod) {
  static const char* const kKinds[] = {"host", "container", "pod", "removed"};
  kind = kKinds[static_cast<int>(w.kind)];
  auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(sanitize_utf8(s)); };
  if (!w.what.pod_uid.empty()) pod = {{"uid", sanitize_utf8(w.what.pod_uid)}, {"qos", w.what.qos}};
  if (w.kind == CgroupOwner::Kind::container)
    container = {{"id", w.what.id}, {"name", or_null(w.name)}, {"runtime", w.what.runtime},
                 {"cgroup", sanitize_utf8(w.what.path)}};
}

}  // namespace aitrace
