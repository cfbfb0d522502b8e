// `aitrace doctor`: what this host offers a tracer and an AI workload. Each finding carries its
// value (or why it is unknown: never guessed), where it came from, and a remark on what it means.
#pragma once

#include "aitrace/core/caps.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"

#include <nlohmann/json.hpp>

#include <deque>

#include <string>
#include <string_view>
#include <vector>

namespace aitrace {

// ok: good for tracing; info: a neutral fact; warn: a limit worth knowing; problem: aitrace (or a
// collector) cannot work as is; unknown: could not be determined (see Finding::unknown).
enum class FindingStatus { ok, info, warn, problem, unknown };
const char* finding_status_name(FindingStatus s);

// bugprone-exception-escape: the implicit move constructor is noexcept through
// nlohmann::ordered_json's, which calls set_parents() (not declared noexcept, throws nothing).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Finding {
  std::string id;                // JSON key within its section ("release")
  std::string label;             // text label ("release")
  nlohmann::ordered_json value;  // null when unknown
  std::string text;              // the value for people; empty: derived from value
  FindingStatus status = FindingStatus::info;
  std::string remark;                // what it means for tracing / an AI workload
  std::string source;                // where the value came from ("/proc/config.gz")
  std::string unknown;               // why the value is unknown
  std::vector<std::string> details;  // extra text lines (lists), text output only
};

struct DoctorSection {
  std::string id, title;
  std::deque<Finding> findings;  // a deque: add() keeps references to earlier findings valid
  Finding& add(std::string id, std::string label);
  // A finding whose value could not be read: status unknown, value null.
  Finding& add_unknown(std::string id, std::string label, std::string why);
};

struct DoctorReport {
  std::vector<DoctorSection> sections;
  const Finding* find(std::string_view section, std::string_view id) const;
};

struct DoctorOptions {
  bool probe_hooks = true;  // false: report hook kinds as not probed
  // Every collector's events (from their hook tables), for the tracepoints section.
  std::vector<CollectorTracepoints> catalog;
  std::string bpf_token;  // --bpf-token PATH: the probes load through it, isolation reports it
};

DoctorReport run_doctor(const DoctorOptions& opts = {});
std::string doctor_text(const DoctorReport& r);
std::string doctor_json(const DoctorReport& r);  // {"schema":"aitrace.doctor/1", ...}

// Sections, one source file each (user/collectors/doctor/doctor_<topic>.cpp).
DoctorSection doctor_kernel_section();
DoctorSection doctor_privilege_section(const Result<Capabilities>& caps);
DoctorSection doctor_hooks_section(bool probe, const std::string& not_probed_reason);
DoctorSection doctor_tracepoints_section(const std::vector<CollectorTracepoints>& catalog);
DoctorSection doctor_scheduler_section();
DoctorSection doctor_memory_section();
DoctorSection doctor_devices_section();
DoctorSection doctor_isolation_section(const std::string& bpf_token_option, const Status& bpf_token);
// The isolation section's BPF token findings (doctor_token.cpp).
void add_bpf_token_findings(DoctorSection& s, const std::string& option, const Status& token);

}  // namespace aitrace
