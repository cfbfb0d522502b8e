#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace aitrace {

inline constexpr int kCapFowner = 3;
inline constexpr int kCapSysAdmin = 21;
inline constexpr int kCapPerfmon = 38;
inline constexpr int kCapBpf = 39;

struct Capabilities {
  uint64_t effective = 0;
  bool has(int cap) const { return (effective >> cap) & 1u; }
};

// Parses the CapEff line of a /proc/<pid>/status text.
Result<Capabilities> parse_proc_status_caps(std::string_view status_text);
Result<Capabilities> read_own_capabilities();
// Names of the capabilities set in `caps` (e.g. "CAP_BPF,CAP_PERFMON"), for doctor.
std::string capability_names(const Capabilities& caps);
// Moves CAP_BPF and CAP_PERFMON from the permitted into the effective set
// where they are permitted but not effective: the container image gives its binary these file
// capabilities as permitted only (`=p`), so a non-root user whose runtime raises no ambient
// capabilities still gets them, and a runtime that withholds them starts aitrace anyway (an `=ep`
// file would make that execve fail). Nothing else is raised; errors are left to the EPERM
// diagnosis of the first bpf() call.
void raise_permitted_tracing_capabilities();
// OK when tracing is allowed: CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN (pre-5.8 style root).
// Otherwise a privilege error naming exactly what is missing.
Status check_tracing_capabilities(const Capabilities& caps);

}  // namespace aitrace
