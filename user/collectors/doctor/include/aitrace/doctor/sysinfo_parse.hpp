// Parsers for the /proc and /sys texts doctor reads. Pure functions over text so the unit tests
// feed them fixture files; the readers return the OS error text so "unknown" can say why.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aitrace {

// A small /proc or /sys file; the error message carries the path and strerror text.
Result<std::string> read_text_file(const std::string& path);
// A gzip file (/proc/config.gz) decompressed with zlib.
Result<std::string> read_gzip_file(const std::string& path);
// First line without its newline.
std::string first_line(std::string_view text);

// Value of KEY in a kernel .config text: "250", "y", "m", "\"...\"" verbatim; "n" for
// "# KEY is not set"; nullopt when the key does not appear.
std::optional<std::string> kernel_config_value(std::string_view config, std::string_view key);

// "0-3,5" -> {0,1,2,3,5}; "" or "\n" -> {}. Rejects garbage and reversed ranges.
Result<std::vector<int>> parse_node_list(std::string_view text);
std::string format_node_list(const std::vector<int>& nodes);  // {0,1,2,5} -> "0-2,5"

// "always [madvise] never" -> "madvise"; nullopt when nothing is bracketed.
std::optional<std::string> parse_selected_choice(std::string_view text);

struct MountEntry {
  std::string mount_point;  // octal escapes (\040) decoded
  std::string fstype;
  std::string source;
  std::string super_options;
};
std::vector<MountEntry> parse_mountinfo(std::string_view text);

struct CgroupV1Hierarchy {
  std::string mount_point;
  std::vector<std::string> controllers;  // "cpu", "memory", "name=systemd"
};
struct CgroupLayout {
  std::string mode;  // "unified" (v2 only), "hybrid" (v1 and v2), "legacy" (v1 only), "none"
  std::vector<std::string> v2_mounts;
  std::vector<CgroupV1Hierarchy> v1;
};
CgroupLayout cgroup_layout(const std::vector<MountEntry>& mounts);

// The value of a "key : value" line of /proc/<pid>/sched (e.g. "se.slice"), in the kernel's
// units (ns); "1.400000" style (ms with 6 decimals, older kernels' PN()) is converted to ns.
std::optional<int64_t> parse_proc_sched_ns(std::string_view text, std::string_view key);

struct KernelVersion {
  int major = 0;
  int minor = 0;
  bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};
// uname's release "6.1.0-27-amd64" -> 6.1; nullopt when it does not start with MAJOR.MINOR.
std::optional<KernelVersion> parse_release_version(std::string_view release);

}  // namespace aitrace
