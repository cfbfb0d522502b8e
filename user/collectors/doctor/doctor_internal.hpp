// Inputs several doctor sections share (kernel config, command line, mounts), read once.
#pragma once

#include "aitrace/doctor/sysinfo_parse.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aitrace::doctor {

struct KernelConfigText {
  std::string text;     // the .config, empty when unreadable
  std::string source;   // "/proc/config.gz" or "/boot/config-<release>"
  std::string unknown;  // why neither could be read
};
const KernelConfigText& kernel_config();

// /proc/cmdline; nullopt when unreadable.
const std::optional<std::string>& kernel_cmdline();
// The value of KEY=VALUE on the kernel command line ("" for a bare KEY); nullopt when absent.
// The last occurrence wins, as in the kernel's own parsing of most options.
std::optional<std::string> cmdline_option(std::string_view key);

const std::vector<MountEntry>& mounts();
// Mount point of the first mount with this fstype ("" when none).
std::string mount_point_of(std::string_view fstype);

// "/sys/kernel/debug/sched/base_slice_ns needs debugfs, which is not mounted at /sys/kernel/debug"
// style reasons for files under a pseudo-filesystem that may be absent or private.
std::string unreadable_reason(const std::string& path, std::string_view fstype, const std::string& mount_dir,
                              const std::string& read_error);

std::string format_bytes(uint64_t bytes);

}  // namespace aitrace::doctor
