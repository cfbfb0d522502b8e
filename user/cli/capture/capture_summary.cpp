#include "aitrace/capture/capture_summary.hpp"

#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace aitrace {
namespace {

using nlohmann::json;

uint64_t u64_at(const json& j, const json::json_pointer& p) {
  return j.contains(p) && j.at(p).is_number_unsigned() ? j.at(p).get<uint64_t>() : 0;
}

void add(json& out, const std::string& source, const char* severity, std::string text) {
  out.push_back({{"source", source}, {"severity", severity}, {"text", std::move(text)}});
}

// Groups with run-queue waits, in the document's order (sched's report order: longest wait first).
void sched_findings(json& out, const json& doc, size_t top) {
  const std::string by = doc.value("group_by", "process");
  size_t shown = 0;
  for (const json& g : doc.value("groups", json::array())) {
    if (shown == top) break;
    const json& h = g["histograms"]["runq_wakeup"];
    if (num(h, "count") == 0) continue;
    const uint64_t max = h.contains("max") ? h["max"].get<uint64_t>() : num(h, "max_bound");
    const uint64_t p99 = num(h, "p99");
    // 5 ms: a whole default EEVDF slice (3 ms on most hosts) and more spent waiting.
    add(out, "sched", p99 >= 5000000 ? "warn" : "info",
        fmt::format("{}: run-queue wait after wakeup p99 {}, max {} ({} waits)", capture_group_label(g, by),
                    format_ns(p99), format_ns(max), num(h, "count")));
    shown++;
  }
  if (doc.contains("slow_events_summary")) {
    const json& s = doc["slow_events_summary"];
    const uint64_t total = num(s, "total");
    if (total)
      add(out, "sched", "info",
          fmt::format("{} slow events (run-queue waits of at least {}{})", total,
                      format_ns(num(s, "runq_threshold_ns")),
                      num(s, "offcpu_threshold_ns")
                          ? ", sleeps and blocks of at least " + format_ns(s["offcpu_threshold_ns"].get<uint64_t>())
                          : std::string()));
  }
}

void offcpu_findings(json& out, const json& doc) {
  const json stacks = doc.value("stacks", json::array());
  const uint64_t total = num(doc, "total_ns");
  if (stacks.empty() || total == 0) return;
  const json& s = stacks[0];
  const json frames = s.value("kernel_frames", json::array());
  const json user = s.value("user_frames", json::array());
  const std::string where = !user.empty() ? escape_text(user[0].get<std::string>())
                            : !frames.empty() ? escape_text(frames[0].get<std::string>())
                                              : std::string("[no frames]");
  add(out, "offcpu", "info",
      fmt::format("most off-CPU time: {} in {} ({}, {:.0f}% of {})", escape_text(str(s, "comm")), where,
                  str(s, "state"), 100.0 * static_cast<double>(num(s, "total_ns")) /
                                            static_cast<double>(total),
                  format_ns(total)));
}

void migrate_findings(json& out, const json& doc) {
  const uint64_t ok = u64_at(doc, "/totals/pages_succeeded"_json_pointer);
  const uint64_t failed = u64_at(doc, "/totals/pages_failed"_json_pointer);
  if (ok || failed)
    add(out, "migrate", failed ? "warn" : "info",
        fmt::format("{} pages migrated, {} failed, in {} calls", ok, failed,
                    u64_at(doc, "/totals/calls"_json_pointer)));
}

void lost_findings(json& out, const std::string& name, const json& doc) {
  const json lost = doc.value("lost", json::object());
  for (const auto& [k, v] : lost.items())
    if (v.is_number_unsigned() && v.get<uint64_t>() > 0)
      add(out, name, "warn", fmt::format("lost: {} {} (see docs/{}.md)", v.get<uint64_t>(), k, name));
}

void doctor_findings(json& out, const json& env) {
  for (const auto& [section, findings] : env.items()) {
    if (!findings.is_object()) continue;
    for (const auto& [id, f] : findings.items()) {
      if (!f.is_object()) continue;
      const std::string status = str(f, "status");
      if (status != "warn" && status != "problem") continue;
      add(out, "doctor", "warn",
          fmt::format("{}.{}: {}{}", section, id, str(f, "text"),
                      f.contains("remark") ? " (" + str(f, "remark") + ")" : std::string()));
    }
  }
}

}  // namespace

std::string capture_group_label(const json& g, const std::string& group_by) {
  if (g.value("other", false)) return "other";
  std::string comm = escape_text(str(g, "comm"));
  if (group_by == "thread") return fmt::format("{} ({})", comm, num(g, "tid"));
  if (group_by == "process") return fmt::format("{} ({})", comm, num(g, "pid"));
  if (group_by == "cgroup")
    return g.contains("cgroup") && g["cgroup"].is_string() ? escape_text(g["cgroup"].get<std::string>()) : comm;
  if (group_by == "comm") return comm;
  return "all";
}

json capture_interval_point(const json& doc, size_t keep) {
  const std::string by = doc.value("group_by", "process");
  json groups = json::array();
  for (const json& g : doc.value("groups", json::array())) {
    const json& h = g["histograms"]["runq_wakeup"];
    const uint64_t n = num(h, "count");
    if (n) groups.push_back({{"group", capture_group_label(g, by)}, {"p99_ns", num(h, "p99")}, {"count", n}});
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const json& a, const json& b) { return a["p99_ns"].get<uint64_t>() > b["p99_ns"].get<uint64_t>(); });
  if (groups.size() > keep) groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(keep), groups.end());
  return {{"index", num(doc, "interval_index")},
          {"start_unix_ns", num(doc, "start_unix_ns")},
          {"end_unix_ns", num(doc, "end_unix_ns")},
          {"groups", std::move(groups)}};
}

json capture_findings(const CaptureSummaryInput& in) {
  json out = json::array();
  if (auto it = in.documents.find("sched"); it != in.documents.end()) sched_findings(out, it->second, 3);
  if (auto it = in.documents.find("offcpu"); it != in.documents.end()) offcpu_findings(out, it->second);
  if (auto it = in.documents.find("migrate"); it != in.documents.end()) migrate_findings(out, it->second);
  for (const auto& [name, doc] : in.documents) lost_findings(out, name, doc);
  for (const auto& [name, why] : in.unavailable) add(out, name, "warn", "not captured: " + why);
  if (in.environment) doctor_findings(out, *in.environment);
  return out;
}

json capture_summary(const CaptureSummaryInput& in) {
  json collectors = json::object(), unavailable = json::object();
  for (const auto& [name, doc] : in.documents) collectors[name] = doc;
  for (const auto& [name, why] : in.unavailable) unavailable[name] = why;
  return {{"schema", kCaptureSchema},
          {"kind", in.kind},
          {"trigger", in.trigger},
          {"start_unix_ns", in.start_unix_ns},
          {"end_unix_ns", in.end_unix_ns},
          {"duration_ns", in.duration_ns},
          {"collectors", std::move(collectors)},
          {"unavailable", std::move(unavailable)},
          {"intervals", in.intervals},
          {"findings", capture_findings(in)},
          {"files", in.files}};
}

}  // namespace aitrace
