#include "aitrace/core/caps.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace aitrace {

Result<Capabilities> parse_proc_status_caps(std::string_view text) {
  constexpr std::string_view key = "CapEff:";
  size_t pos = text.find(key);
  if (pos == std::string_view::npos) return make_error(ErrorKind::runtime, "no CapEff line in /proc/self/status");
  std::string rest(text.substr(pos + key.size()));
  std::istringstream in(rest);
  std::string hex;
  in >> hex;
  if (hex.empty() || hex.size() > 16 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return make_error(ErrorKind::runtime, "malformed CapEff value '{}'", hex);
  return Capabilities{std::stoull(hex, nullptr, 16)};
}

Result<Capabilities> read_own_capabilities() {
  std::ifstream f("/proc/self/status");
  if (!f) return make_error(ErrorKind::runtime, "cannot read /proc/self/status");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_proc_status_caps(ss.str());
}

std::string capability_names(const Capabilities& caps) {
  static const std::pair<int, const char*> known[] = {
      {kCapSysAdmin, "CAP_SYS_ADMIN"}, {kCapPerfmon, "CAP_PERFMON"}, {kCapBpf, "CAP_BPF"}};
  std::string out;
  for (auto [bit, name] : known) {
    if (!caps.has(bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN" : out;
}

Status check_tracing_capabilities(const Capabilities& caps) {
  if (caps.has(kCapSysAdmin)) return {};
  bool bpf = caps.has(kCapBpf), perfmon = caps.has(kCapPerfmon);
  if (bpf && perfmon) return {};
  const char* have = !bpf && !perfmon ? "have neither" : bpf ? "have CAP_BPF only" : "have CAP_PERFMON only";
  return make_error(ErrorKind::privilege, "needs CAP_BPF and CAP_PERFMON ({}); run as root or grant them", have);
}

void raise_permitted_tracing_capabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct sets[2] = {};
  if (syscall(SYS_capget, &header, sets) != 0) return;
  bool changed = false;
  for (int cap : {kCapPerfmon, kCapBpf}) {
    const auto word = static_cast<size_t>(cap / 32);
    const uint32_t bit = 1u << (cap % 32);
    if ((sets[word].permitted & bit) && !(sets[word].effective & bit)) {
      sets[word].effective |= bit;
      changed = true;
    }
  }
  // A refusal is left to the EPERM diagnosis of the first bpf() call.
  if (changed) static_cast<void>(syscall(SYS_capset, &header, sets));
}

}  // namespace aitrace
