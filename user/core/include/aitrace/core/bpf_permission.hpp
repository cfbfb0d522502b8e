// Why the kernel answers bpf() with EPERM. The errno alone cannot tell the causes apart, and each
// has a different fix: a missing capability, capabilities held only inside a user namespace, a
// seccomp filter (container runtimes' default profiles allow bpf() and perf_event_open() only
// with CAP_SYS_ADMIN), kernel lockdown, or the sysctls that gate unprivileged BPF and perf. The
// facts are read once from /proc and securityfs; the load errors and doctor show the same ones.
#pragma once

#include "aitrace/core/caps.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace aitrace {

struct BpfPermissionFacts {
  std::optional<Capabilities> caps;
  std::optional<bool> in_user_namespace;  // not the initial one: capabilities count only there
  std::optional<int> seccomp_mode;        // 0 none, 1 strict, 2 filter (/proc/self/status)
  std::optional<int> seccomp_filters;     // Seccomp_filters: how many are stacked
  std::optional<std::string> lockdown;    // none, integrity, confidentiality
  std::optional<int> unprivileged_bpf_disabled;
  std::optional<int> perf_event_paranoid;
  std::optional<std::string> token_source;  // the bpffs of the run's BPF token (bpf_token.hpp)
};

// From the texts of /proc/self/status and /proc/self/uid_map (pure, for tests).
void parse_status_facts(std::string_view status, BpfPermissionFacts& f);
bool uid_map_is_initial(std::string_view uid_map);
BpfPermissionFacts read_bpf_permission_facts();

struct BpfDenial {
  std::string cause;  // "a seccomp filter ...": the most likely reason, first
  std::string fix;    // what to change
};
// The most likely reason an EPERM from bpf() or perf_event_open() came with these facts.
BpfDenial explain_bpf_denial(const BpfPermissionFacts& f);

// A privilege error for an EPERM from `what` ("loading the sched BPF programs"), with the most
// likely cause and its fix read from this process's facts.
Error bpf_denied_error(std::string_view what);

}  // namespace aitrace
