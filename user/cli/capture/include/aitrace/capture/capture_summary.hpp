// summary.json of an incident bundle (schema aitrace.capture/1, docs/capture.md): every
// collector's report document, the per-interval p99 run-queue wait of the busiest groups, and the
// top findings drawn from those documents and the doctor report.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aitrace {

inline constexpr const char* kCaptureSchema = "aitrace.capture/1";

// A number of a report document, 0 where the key is absent or null (unknown).
inline uint64_t num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  // Times come as signed integers (CLOCK_REALTIME is an int64_t), counts as unsigned ones.
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(std::max<int64_t>(it->get<int64_t>(), 0));
}
// A string of a report document, empty where the key is absent or null.
inline std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}


// One interval's point of the p99 series: sched's interval document, reduced to its `keep`
// groups with the highest p99 run-queue wait after a wakeup.
nlohmann::json capture_interval_point(const nlohmann::json& sched_interval_doc, size_t keep);

// A group's name in the report: "comm (pid)", "comm (tid)", the cgroup path, "other".
std::string capture_group_label(const nlohmann::json& group, const std::string& group_by);

struct CaptureSummaryInput {
  std::string kind = "capture";     // "capture" or "flight-recorder"
  nlohmann::json trigger;           // null, or what made a flight recorder dump
  uint64_t start_unix_ns = 0, end_unix_ns = 0, duration_ns = 0;
  std::map<std::string, nlohmann::json> documents;   // by collector name ("sched", "migrate", ...)
  std::map<std::string, std::string> unavailable;    // collector -> why it did not run here
  std::vector<nlohmann::json> intervals;             // capture_interval_point()s, oldest first
  const nlohmann::json* environment = nullptr;       // the doctor document
  std::vector<std::string> files;                    // the bundle's files
};

// Notable facts: the groups with the longest run-queue waits, slow events, off-CPU's top stack,
// page migrations, every non-zero lost count, collectors that could not run, and the doctor's
// warnings and problems. Each: {"source", "severity" (info|warn), "text"}.
nlohmann::json capture_findings(const CaptureSummaryInput& in);
nlohmann::json capture_summary(const CaptureSummaryInput& in);

}  // namespace aitrace
