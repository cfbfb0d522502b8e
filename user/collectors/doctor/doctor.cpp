#include "aitrace/doctor/doctor.hpp"

#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/caps.hpp"

namespace aitrace {

const char* finding_status_name(FindingStatus s) {
  switch (s) {
    case FindingStatus::ok:
      return "ok";
    case FindingStatus::info:
      return "info";
    case FindingStatus::warn:
      return "warn";
    case FindingStatus::problem:
      return "problem";
    case FindingStatus::unknown:
      return "unknown";
  }
  return "?";
}

Finding& DoctorSection::add(std::string id, std::string label) {
  Finding f;
  f.id = std::move(id);
  f.label = std::move(label);
  findings.push_back(std::move(f));
  return findings.back();
}

Finding& DoctorSection::add_unknown(std::string id, std::string label, std::string why) {
  Finding& f = add(std::move(id), std::move(label));
  f.status = FindingStatus::unknown;
  f.unknown = std::move(why);
  return f;
}

const Finding* DoctorReport::find(std::string_view section, std::string_view id) const {
  for (const auto& s : sections) {
    if (s.id != section) continue;
    for (const auto& f : s.findings)
      if (f.id == id) return &f;
  }
  return nullptr;
}

DoctorReport run_doctor(const DoctorOptions& opts) {
  DoctorReport r;
  auto caps = read_own_capabilities();
  // Chosen before the hook probes, which then load through the token as tracing would.
  const Status token = use_bpf_token(opts.bpf_token);
  // Hook probes load programs: without the capabilities they would only report EPERM, which
  // says nothing about the kernel.
  std::string not_probed;
  if (!opts.probe_hooks)
    not_probed = "not probed: disabled";
  else if (!caps.ok() || !check_tracing_capabilities(*caps).ok())
    not_probed = "not probed: needs CAP_BPF+CAP_PERFMON";
  r.sections.push_back(doctor_kernel_section());
  r.sections.push_back(doctor_privilege_section(caps));
  r.sections.push_back(doctor_hooks_section(not_probed.empty(), not_probed));
  r.sections.push_back(doctor_tracepoints_section(opts.catalog));
  r.sections.push_back(doctor_scheduler_section());
  r.sections.push_back(doctor_memory_section());
  r.sections.push_back(doctor_devices_section());
  r.sections.push_back(doctor_isolation_section(opts.bpf_token, token));
  return r;
}

}  // namespace aitrace
