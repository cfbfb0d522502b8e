#include "doctor_internal.hpp"

#include <fmt/format.h>
#include <sys/utsname.h>

namespace aitrace::doctor {

const KernelConfigText& kernel_config() {
  static const KernelConfigText cfg = [] {
    KernelConfigText c;
    auto gz = read_gzip_file("/proc/config.gz");
    if (gz.ok()) {
      c.text = std::move(*gz);
      c.source = "/proc/config.gz";
      return c;
    }
    utsname u{};
    uname(&u);
    std::string boot = std::string("/boot/config-") + u.release;
    auto plain = read_text_file(boot);
    if (plain.ok()) {
      c.text = std::move(*plain);
      c.source = boot;
      return c;
    }
    c.unknown = gz.error().message + "; " + plain.error().message;
    return c;
  }();
  return cfg;
}

const std::optional<std::string>& kernel_cmdline() {
  static const std::optional<std::string> line = []() -> std::optional<std::string> {
    auto t = read_text_file("/proc/cmdline");
    if (!t.ok()) return std::nullopt;
    return first_line(*t);
  }();
  return line;
}

std::optional<std::string> cmdline_option(std::string_view key) {
  const auto& line = kernel_cmdline();
  if (!line) return std::nullopt;
  std::optional<std::string> found;
  std::string_view rest = *line;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view tok = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    // Everything after "--" is for init, not the kernel.
    if (tok == "--") break;
    if (tok == key) found = "";
    if (tok.size() > key.size() && tok.substr(0, key.size()) == key && tok[key.size()] == '=')
      found = std::string(tok.substr(key.size() + 1));
  }
  return found;
}

const std::vector<MountEntry>& mounts() {
  static const std::vector<MountEntry> m = [] {
    auto t = read_text_file("/proc/self/mountinfo");
    return t.ok() ? parse_mountinfo(*t) : std::vector<MountEntry>{};
  }();
  return m;
}

std::string mount_point_of(std::string_view fstype) {
  for (const auto& m : mounts())
    if (m.fstype == fstype) return m.mount_point;
  return {};
}

std::string unreadable_reason(const std::string& path, std::string_view fstype, const std::string& mount_dir,
                              const std::string& read_error) {
  bool mounted = false;
  for (const auto& m : mounts())
    if (m.fstype == fstype && m.mount_point == mount_dir) mounted = true;
  if (!mounted)
    return fmt::format("{} needs {}, which is not mounted at {} (mount -t {} none {})", path, fstype, mount_dir, fstype,
                       mount_dir);
  return read_error;
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace aitrace::doctor
