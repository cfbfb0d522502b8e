#include "aitrace/core/tracepoint_catalog.hpp"

#include "aitrace/core/hooks.hpp"

#include <bpf/btf.h>
#include <dirent.h>

#include <algorithm>
#include <set>

namespace aitrace {

std::vector<std::string> btf_tracepoints_with_prefix(std::string_view prefix) {
  std::vector<std::string> out;
  const btf* b = vmlinux_btf();
  if (!b) return out;
  const std::string full = "btf_trace_" + std::string(prefix);
  const __u32 n = btf__type_cnt(b);
  for (__u32 id = 1; id < n; id++) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t || btf_kind(t) != BTF_KIND_TYPEDEF) continue;
    const char* name = btf__name_by_offset(b, t->name_off);
    if (name && std::string_view(name).substr(0, full.size()) == full) out.emplace_back(name + 10);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> tracefs_category_events(std::string_view category) {
  std::vector<std::string> out;
  std::string root = tracefs_root();
  if (root.empty()) return out;
  std::string dir = root + "/events/" + std::string(category);
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    // Plain files (enable, filter) sit beside the event directories.
    bool dir_entry = e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && n != "enable" && n != "filter");
    if (!dir_entry) continue;
    out.emplace_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<TracepointPresence> collector_tracepoint_presence(const CollectorTracepoints& c) {
  std::vector<TracepointPresence> out;
  std::set<std::string> seen;
  for (const auto& spec : c.events) {
    TracepointPresence p;
    p.category = spec.category;
    p.name = spec.names.front();
    for (auto name : spec.names) {
      bool btf = tracepoint_in_btf(name), fs = tracepoint_in_tracefs(spec.category, name);
      if (btf || fs) {
        p.name = name;
        p.in_btf = btf;
        p.in_tracefs = fs;
        break;
      }
    }
    if (!p.present() && !spec.replaced_by.empty() &&
        (tracepoint_in_btf(spec.replaced_by) || tracepoint_in_tracefs(spec.category, spec.replaced_by)))
      p.covered_by = std::string(spec.category) + ":" + std::string(spec.replaced_by);
    for (auto name : spec.names) {
      if (name != p.name) p.alternatives.emplace_back(name);
      seen.insert(std::string(spec.category) + ":" + std::string(name));
    }
    out.push_back(std::move(p));
  }
  std::vector<TracepointPresence> extras;
  for (const auto& d : c.discover) {
    std::set<std::string> names;
    for (auto& n : tracefs_category_events(d.category)) names.insert(n);
    for (auto& n : btf_tracepoints_with_prefix(d.btf_prefix))
      if (d.btf_exclude.empty() || n.rfind(d.btf_exclude, 0) != 0) names.insert(n);
    for (const auto& n : names) {
      std::string key = std::string(d.category) + ":" + n;
      if (!seen.insert(key).second) continue;
      TracepointPresence p;
      p.category = d.category;
      p.name = n;
      p.in_btf = tracepoint_in_btf(n);
      p.in_tracefs = tracepoint_in_tracefs(d.category, n);
      p.listed = false;
      extras.push_back(std::move(p));
    }
  }
  std::sort(extras.begin(), extras.end(), [](const auto& a, const auto& b) { return a.event() < b.event(); });
  out.insert(out.end(), extras.begin(), extras.end());
  return out;
}

}  // namespace aitrace
