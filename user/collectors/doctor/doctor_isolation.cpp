// Security modules and cgroups: what may restrict BPF, and how aitrace can filter by container.
#include "aitrace/doctor/doctor.hpp"
#include "doctor_internal.hpp"

#include "aitrace/core/bpf_permission.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

// lsm_list_modules(2), Linux 6.8+; the number is the same on every architecture. The macro is the
// kernel's own name (reserved-identifier), defined only where older libc headers lack it.
#ifndef __NR_lsm_list_modules
#define __NR_lsm_list_modules 461  // NOLINT(bugprone-reserved-identifier)
#endif

namespace aitrace {
namespace {

const char* lsm_name(uint64_t id) {
  // include/uapi/linux/lsm.h LSM_ID_*
  switch (id) {
    case 100:
      return "capability";
    case 101:
      return "selinux";
    case 102:
      return "smack";
    case 103:
      return "tomoyo";
    case 104:
      return "apparmor";
    case 105:
      return "yama";
    case 106:
      return "loadpin";
    case 107:
      return "safesetid";
    case 108:
      return "lockdown";
    case 109:
      return "bpf";
    case 110:
      return "landlock";
    case 111:
      return "ima";
    case 112:
      return "evm";
    case 113:
      return "ipe";
    default:  // an LSM newer than this list
      return nullptr;
  }
}

// Active LSMs from securityfs, else from lsm_list_modules(2); nullopt with the reasons.
std::optional<std::vector<std::string>> active_lsms(std::string* source, std::string* why) {
  const std::string path = "/sys/kernel/security/lsm";
  auto t = read_text_file(path);
  if (t.ok()) {
    std::vector<std::string> out;
    std::string line = first_line(*t);
    size_t start = 0;
    while (start < line.size()) {
      size_t comma = line.find(',', start);
      if (comma == std::string::npos) comma = line.size();
      if (comma > start) out.push_back(line.substr(start, comma - start));
      start = comma + 1;
    }
    *source = path;
    return out;
  }
  std::string fs_why = doctor::unreadable_reason(path, "securityfs", "/sys/kernel/security", t.error().message);
  uint64_t ids[64];
  uint32_t size = sizeof ids;
  long n = syscall(__NR_lsm_list_modules, ids, &size, 0);
  if (n < 0) {
    *why = fmt::format("{}; lsm_list_modules(2): {}", fs_why, strerror(errno));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (long i = 0; i < n && i < 64; i++) {
    const char* name = lsm_name(ids[i]);
    out.push_back(name ? name : fmt::format("lsm#{}", ids[i]));
  }
  *source = "lsm_list_modules(2)";
  return out;
}

void add_lsms(DoctorSection& s) {
  std::string source, why;
  auto lsms = active_lsms(&source, &why);
  if (!lsms) {
    s.add_unknown("lsm", "active LSMs", why).remark = "Cannot tell whether an LSM restricts BPF here.";
    return;
  }
  Finding& f = s.add("lsm", "active LSMs");
  nlohmann::ordered_json v = nlohmann::ordered_json::array();
  std::string text;
  bool lockdown = false, restrictive = false;
  for (const auto& l : *lsms) {
    v.push_back(l);
    text += (text.empty() ? "" : ",") + l;
    lockdown |= l == "lockdown";
    restrictive |= l == "selinux" || l == "apparmor" || l == "smack" || l == "tomoyo";
  }
  f.value = v;
  f.text = text;
  f.source = source;
  std::string remark = "An LSM can deny bpf() even to root";
  if (lockdown) remark += "; lockdown in 'confidentiality' mode forbids reading kernel memory from BPF";
  if (restrictive) remark += "; SELinux/AppArmor policy may need a bpf/perfmon rule for aitrace";
  f.remark = remark + ".";
}

void add_lockdown(DoctorSection& s) {
  const std::string path = "/sys/kernel/security/lockdown";
  auto t = read_text_file(path);
  if (!t.ok()) {
    s.add_unknown("lockdown", "lockdown",
                  doctor::unreadable_reason(path, "securityfs", "/sys/kernel/security", t.error().message));
    return;
  }
  auto sel = parse_selected_choice(*t);
  if (!sel) {
    s.add_unknown("lockdown", "lockdown", "no [selected] value in " + path);
    return;
  }
  Finding& f = s.add("lockdown", "lockdown");
  f.value = *sel;
  f.source = path;
  f.status = *sel == "confidentiality" ? FindingStatus::problem : FindingStatus::ok;
  f.remark = *sel == "confidentiality" ? "BPF may not read kernel memory: tracing programs fail to load."
             : *sel == "integrity"     ? "Integrity lockdown: BPF tracing still works."
                                       : "No lockdown restrictions.";
}

// The facts a bpf() EPERM is explained with (bpf_permission.hpp), so doctor and the error agree.
void add_bpf_confinement(DoctorSection& s, const BpfPermissionFacts& facts) {
  if (!facts.seccomp_mode) {
    s.add_unknown("seccomp", "seccomp", "no Seccomp line in /proc/self/status");
  } else {
    Finding& f = s.add("seccomp", "seccomp");
    const int mode = *facts.seccomp_mode;
    f.value = {{"mode", mode == 0 ? "disabled" : mode == 1 ? "strict" : "filter"},
               {"filters", facts.seccomp_filters.value_or(mode == 2 ? 1 : 0)}};
    f.text = mode == 0 ? "disabled" : mode == 1 ? "strict" : fmt::format("filter ({} stacked)", facts.seccomp_filters.value_or(1));
    f.source = "/proc/self/status";
    f.status = mode == 0 ? FindingStatus::ok : FindingStatus::warn;
    f.remark = mode == 0 ? "No seccomp filter: bpf() and perf_event_open() are not filtered."
                         : "A seccomp filter may refuse bpf()/perf_event_open() with EPERM (container runtimes' default "
                           "profiles allow them only with CAP_SYS_ADMIN); deploy/seccomp/aitrace.json allows them.";
  }
  if (!facts.in_user_namespace) {
    s.add_unknown("user_namespace", "user namespace", "/proc/self/uid_map unreadable");
    return;
  }
  Finding& u = s.add("user_namespace", "user namespace");
  u.value = *facts.in_user_namespace ? "child" : "initial";
  u.source = "/proc/self/uid_map";
  const bool child = *facts.in_user_namespace, token = facts.token_source.has_value();
  u.status = child && !token ? FindingStatus::problem : child ? FindingStatus::info : FindingStatus::ok;
  u.remark = !child ? "The initial user namespace: CAP_BPF and CAP_PERFMON count as they are."
             : token ? "Capabilities count for bpf() through the BPF token (bpf_token below); perf_event_open() "
                       "stays refused, so classic tracepoints, kprobes and uprobes cannot attach."
                     : "Capabilities held in a user namespace do not count for bpf(): only a BPF token delegated by "
                       "the host (Linux 6.9+, --bpf-token) lets aitrace load here.";
}

void add_cgroups(DoctorSection& s) {
  if (doctor::mounts().empty()) {
    s.add_unknown("cgroup_layout", "cgroup layout", "/proc/self/mountinfo unreadable");
    return;
  }
  CgroupLayout c = cgroup_layout(doctor::mounts());
  Finding& f = s.add("cgroup_layout", "cgroup layout");
  nlohmann::ordered_json v2 = nlohmann::ordered_json::array(), v1 = nlohmann::ordered_json::array();
  for (const auto& m : c.v2_mounts) v2.push_back(m);
  for (const auto& h : c.v1) {
    nlohmann::ordered_json ctl = nlohmann::ordered_json::array();
    std::string names;
    for (const auto& n : h.controllers) {
      ctl.push_back(n);
      names += (names.empty() ? "" : ",") + n;
    }
    v1.push_back({{"mount_point", h.mount_point}, {"controllers", ctl}});
    f.details.push_back(fmt::format("v1 {}: {}", h.mount_point, names.empty() ? "(no controllers)" : names));
  }
  for (const auto& m : c.v2_mounts) f.details.insert(f.details.begin(), "v2 " + m);
  f.value = {{"mode", c.mode}, {"v2_mounts", v2}, {"v1", v1}};
  f.text = c.mode;
  f.source = "/proc/self/mountinfo";
  f.status = c.v2_mounts.empty() ? FindingStatus::warn : FindingStatus::ok;
  f.remark = c.mode == "unified"  ? "cgroup v2 only: --cgroup filters any container/pod by its v2 cgroup."
             : c.mode == "hybrid" ? "v1 and v2 side by side: --cgroup works on the v2 tree (" + c.v2_mounts.front() +
                                        "), which holds every task even where controllers live in v1."
             : c.mode == "legacy" ? "cgroup v1 only: --cgroup filtering (v2 ids) is unavailable; use -p/--comm."
                                  : "No cgroup filesystem mounted: --cgroup filtering is unavailable.";

  auto self = read_text_file("/proc/self/cgroup");
  if (!self.ok()) {
    s.add_unknown("own_cgroup_v2", "own cgroup v2", self.error().message);
    return;
  }
  size_t pos = self->find("0::");
  if (pos != 0 && pos != std::string::npos) pos = self->find("\n0::");
  if (pos == std::string::npos) {
    s.add_unknown("own_cgroup_v2", "own cgroup v2", "no v2 entry (0::) in /proc/self/cgroup");
    return;
  }
  Finding& o = s.add("own_cgroup_v2", "own cgroup v2");
  o.value = first_line(std::string_view(*self).substr(pos + (self->at(pos) == '\n' ? 4 : 3)));
  o.source = "/proc/self/cgroup";
  o.remark = "Where doctor itself runs; a container sees its own cgroup namespace root as /.";
}

}  // namespace

DoctorSection doctor_isolation_section(const std::string& bpf_token_option, const Status& bpf_token) {
  DoctorSection s{"isolation", "Security modules and cgroups", {}};
  add_lsms(s);
  add_lockdown(s);
  add_bpf_confinement(s, read_bpf_permission_facts());
  add_bpf_token_findings(s, bpf_token_option, bpf_token);
  add_cgroups(s);
  return s;
}

}  // namespace aitrace
