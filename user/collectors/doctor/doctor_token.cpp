// BPF tokens: whether the kernel has them, whether this run got one, and what each bpffs mount
// delegates (docs/containers.md has the host-side set-up).
#include "aitrace/doctor/doctor.hpp"
#include "doctor_internal.hpp"

#include "aitrace/core/bpf_permission.hpp"
#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/hooks.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace aitrace {
namespace {

void add_kernel_support(DoctorSection& s) {
  if (!vmlinux_btf()) {
    s.add_unknown("bpf_token_kernel", "BPF tokens (kernel)", "no kernel BTF (/sys/kernel/btf/vmlinux)");
    return;
  }
  Finding& f = s.add("bpf_token_kernel", "BPF tokens (kernel)");
  const bool has = kernel_has_bpf_tokens();
  f.value = has;
  f.text = has ? "supported" : "not supported";
  f.source = "/sys/kernel/btf/vmlinux (BPF_TOKEN_CREATE in enum bpf_cmd)";
  f.status = has ? FindingStatus::ok : FindingStatus::info;
  f.remark = has ? "A bpffs mounted with delegate_* options lets a process in a user namespace load BPF (--bpf-token)."
                 : "Linux 6.9+ only: in a user namespace aitrace cannot load BPF on this kernel.";
}

// Where the run's token came from, as use_bpf_token() chose it.
std::string token_origin(const std::string& option) {
  if (!option.empty()) return "--bpf-token";
  if (std::getenv("LIBBPF_BPF_TOKEN_PATH")) return "LIBBPF_BPF_TOKEN_PATH";
  return "/sys/fs/bpf (libbpf's default)";
}

void add_run_token(DoctorSection& s, const std::string& option, const Status& token, bool in_user_namespace) {
  Finding& f = s.add("bpf_token", "BPF token");
  const std::string& from = bpf_token_source();
  f.source = token_origin(option);
  if (!token.ok()) {
    f.value = {{"path", nullptr}, {"error", token.error().message}};
    f.text = token.error().message;
    f.status = FindingStatus::problem;
    f.remark = "Tracing commands given this path stop with the same line.";
    return;
  }
  f.value = {{"path", from.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(from)},
             {"error", nullptr}};
  f.text = from.empty() ? "none" : "from " + from;
  if (!from.empty()) {
    f.status = FindingStatus::ok;
    f.remark = "BPF programs, maps and BTF load through this token; the hook probes above used it.";
  } else if (in_user_namespace) {
    f.status = FindingStatus::problem;
    f.remark = "In a user namespace only a token lets aitrace load BPF: give --bpf-token PATH (a bpffs the host "
               "delegated to this namespace).";
  } else {
    f.status = FindingStatus::info;
    f.remark = "None needed in the initial user namespace: capabilities count as they are.";
  }
}

// Every bpffs mount this process sees, with its delegate_* options and what aitrace lacks there.
void add_bpffs_mounts(DoctorSection& s) {
  Finding& f = s.add("bpffs_delegation", "bpffs delegation");
  f.source = "/proc/self/mountinfo";
  f.value = nlohmann::ordered_json::array();
  size_t count = 0;
  const NeededDelegation* needed = needed_bpffs_delegation(&count);
  bool delegated = false, complete = false;
  for (const auto& m : doctor::mounts()) {
    if (m.fstype != "bpf") continue;
    const BpffsDelegation d = parse_bpffs_delegation(m.super_options);
    const std::optional<std::string>* values[] = {&d.cmds, &d.maps, &d.progs, &d.attachs};
    nlohmann::ordered_json entry = {{"mount_point", m.mount_point}};
    nlohmann::ordered_json missing = nlohmann::ordered_json::object();
    std::string missing_text;
    for (size_t i = 0; i < count; i++) {
      const std::optional<std::string>& v = *values[i];
      entry[needed[i].option] = v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
      const auto lacks = missing_delegation(v.value_or(""), needed[i].needed);
      if (lacks && !lacks->empty()) {
        missing[needed[i].option] = *lacks;
        missing_text += fmt::format(" {}={}", needed[i].option, *lacks);
      }
    }
    entry["missing"] = missing;
    f.value.push_back(entry);
    delegated |= d.any();
    complete |= d.any() && missing.empty();
    f.details.push_back(fmt::format("{}: {}", m.mount_point,
                                    !d.any()               ? "no delegation"
                                    : missing_text.empty() ? "delegates what aitrace needs"
                                                           : "lacks" + missing_text));
  }
  f.text = f.value.empty() ? "no bpffs mounted" : fmt::format("{} bpffs mount(s)", f.value.size());
  f.status = complete ? FindingStatus::ok : delegated ? FindingStatus::warn : FindingStatus::info;
  f.remark = complete    ? "A bpffs delegates what aitrace needs; from inside its user namespace: --bpf-token MOUNT_POINT."
             : delegated ? "A delegated bpffs lacks part of what aitrace needs (missing): hooks fall back where they "
                           "can (raw_tp without tracing, trace_raw_tp, btf_load or task_storage), other loads fail "
                           "with EPERM."
                         : "No bpffs delegates BPF rights: tokens need a bpffs mounted with delegate_* options "
                           "(docs/containers.md).";
}

}  // namespace

void add_bpf_token_findings(DoctorSection& s, const std::string& option, const Status& token) {
  add_kernel_support(s);
  add_run_token(s, option, token, read_bpf_permission_facts().in_user_namespace.value_or(false));
  add_bpffs_mounts(s);
}

}  // namespace aitrace
