#include "aitrace/core/bpf_permission.hpp"

#include "aitrace/core/bpf_token.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace aitrace {
namespace {

std::optional<std::string> read_file(const char* path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<int> parse_int(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p == text.data()) return std::nullopt;
  return v;
}

std::optional<int> status_field(std::string_view status, std::string_view key) {
  size_t pos = 0;
  while (pos < status.size()) {
    size_t end = status.find('\n', pos);
    if (end == std::string_view::npos) end = status.size();
    std::string_view line = status.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':')
      return parse_int(line.substr(key.size() + 1));
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<int> read_int_file(const char* path) {
  auto t = read_file(path);
  return t ? parse_int(*t) : std::nullopt;
}

// "[none] integrity confidentiality" -> "none".
std::optional<std::string> selected_word(std::string_view text) {
  size_t open = text.find('['), close = text.find(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  return std::string(text.substr(open + 1, close - open - 1));
}

constexpr const char* kSeccompFix =
    "run with a seccomp profile that allows bpf and perf_event_open: deploy/seccomp/aitrace.json "
    "(docker/podman: --security-opt seccomp=deploy/seccomp/aitrace.json; Kubernetes: a Localhost "
    "seccompProfile); see docs/containers.md";

}  // namespace

void parse_status_facts(std::string_view status, BpfPermissionFacts& f) {
  auto caps = parse_proc_status_caps(status);
  if (caps) f.caps = *caps;
  f.seccomp_mode = status_field(status, "Seccomp");
  f.seccomp_filters = status_field(status, "Seccomp_filters");
}

bool uid_map_is_initial(std::string_view uid_map) {
  // The initial user namespace maps every uid to itself: one line "0 0 4294967295".
  std::istringstream in{std::string(uid_map)};
  unsigned long inside = 1, outside = 1, count = 0;
  in >> inside >> outside >> count;
  std::string more;
  in >> more;
  return inside == 0 && outside == 0 && count == 4294967295UL && more.empty();
}

BpfPermissionFacts read_bpf_permission_facts() {
  BpfPermissionFacts f;
  if (auto s = read_file("/proc/self/status")) parse_status_facts(*s, f);
  if (auto m = read_file("/proc/self/uid_map")) f.in_user_namespace = !uid_map_is_initial(*m);
  if (auto l = read_file("/sys/kernel/security/lockdown")) f.lockdown = selected_word(*l);
  f.unprivileged_bpf_disabled = read_int_file("/proc/sys/kernel/unprivileged_bpf_disabled");
  f.perf_event_paranoid = read_int_file("/proc/sys/kernel/perf_event_paranoid");
  if (!bpf_token_source().empty()) f.token_source = bpf_token_source();
  return f;
}

BpfDenial explain_bpf_denial(const BpfPermissionFacts& f) {
  const bool admin = f.caps && f.caps->has(kCapSysAdmin);
  const bool bpf = admin || (f.caps && f.caps->has(kCapBpf));
  const bool perfmon = admin || (f.caps && f.caps->has(kCapPerfmon));
  if (f.caps && (!bpf || !perfmon)) {
    BpfDenial d{fmt::format("this process lacks {}", !bpf && !perfmon ? "CAP_BPF and CAP_PERFMON"
                                                      : !bpf         ? "CAP_BPF"
                                                                     : "CAP_PERFMON"),
                "run as root or grant CAP_BPF and CAP_PERFMON (containers: --cap-add=bpf --cap-add=perfmon)"};
    if (!bpf && f.unprivileged_bpf_disabled.value_or(0) != 0)
      d.cause += fmt::format(", and kernel.unprivileged_bpf_disabled={} refuses BPF without it",
                             f.unprivileged_bpf_disabled.value_or(0));
    if (!perfmon && f.perf_event_paranoid.value_or(0) > 1)
      d.cause += fmt::format(", and kernel.perf_event_paranoid={} refuses tracing without it", f.perf_event_paranoid.value_or(0));
    return d;
  }
  if (f.in_user_namespace.value_or(false) && f.token_source)
    return {fmt::format("this process runs in a user namespace, and its BPF token (from {}) does not delegate this "
                        "command, map, program or attach type",
                        *f.token_source),
            "the host mounts that bpffs with delegate_cmds, delegate_maps, delegate_progs and delegate_attachs that "
            "include what aitrace needs (docs/containers.md; aitrace doctor --bpf-token PATH names what is missing)"};
  if (f.in_user_namespace.value_or(false))
    return {"this process runs in a user namespace, where its capabilities do not count for bpf()",
            "run in the host's user namespace, or load through a BPF token that the host delegated to this "
            "namespace: --bpf-token PATH (Linux 6.9+, docs/containers.md)"};
  if (f.seccomp_mode.value_or(0) == 2)
    return {fmt::format("a seccomp filter is installed (Seccomp: 2, {} filter(s)); container runtimes' default "
                        "profiles allow bpf and perf_event_open only with CAP_SYS_ADMIN",
                        f.seccomp_filters.value_or(1)),
            kSeccompFix};
  if (f.seccomp_mode.value_or(0) == 1)
    return {"the process runs in strict seccomp mode (Seccomp: 1)", kSeccompFix};
  if (f.lockdown && *f.lockdown == "confidentiality")
    return {"the kernel is locked down in confidentiality mode, which forbids BPF from reading kernel memory",
            "boot with lockdown=integrity (or none)"};
  return {"an LSM policy (SELinux, AppArmor) may deny bpf to this process",
          "check the audit log (journalctl -k, /var/log/audit) for a denial of bpf or perfmon"};
}

Error bpf_denied_error(std::string_view what) {
  const BpfDenial d = explain_bpf_denial(read_bpf_permission_facts());
  return make_error(ErrorKind::privilege, "{} failed: Operation not permitted (EPERM): {}; {}", what, d.cause, d.fix);
}

}  // namespace aitrace
