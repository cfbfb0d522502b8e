#include "aitrace/doctor/sysinfo_parse.hpp"

#include "aitrace/core/parse_number.hpp"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace aitrace {
namespace {

// /proc and /sys files are small; a cap keeps a surprising file from eating memory.
constexpr size_t kMaxFile = 8u << 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<int> to_int(std::string_view s) {
  auto v = parse_number<int>(s);
  if (!v || *v < 0) return std::nullopt;
  return v;
}

std::string unescape_octal(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      std::string_view oct = s.substr(i + 1, 3);
      if (oct.size() == 3 && std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>((oct[0] - '0') * 64 + (oct[1] - '0') * 8 + (oct[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

Result<std::string> read_text_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorKind::runtime, "cannot read {}: {}", path, strerror(errno));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return make_error(ErrorKind::runtime, "cannot read {}: {}", path, strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFile) break;
  }
  close(fd);
  return out;
}

Result<std::string> read_gzip_file(const std::string& path) {
  // Open ourselves so a missing file gives errno's text, not zlib's generic one.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorKind::runtime, "cannot read {}: {}", path, strerror(errno));
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    close(fd);
    return make_error(ErrorKind::runtime, "cannot read {}: gzdopen failed", path);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    int n = gzread(gz, buf, sizeof buf);
    if (n < 0) {
      int zerr = 0;
      std::string why = gzerror(gz, &zerr);
      gzclose(gz);
      return make_error(ErrorKind::runtime, "cannot decompress {}: {}", path, why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFile) break;
  }
  // gzread returns 0 at a truncated end too; gzclose_r reports it as Z_BUF_ERROR.
  int rc = gzclose_r(gz);
  if (rc != Z_OK) return make_error(ErrorKind::runtime, "cannot decompress {}: truncated or corrupt", path);
  return out;
}

std::string first_line(std::string_view text) {
  size_t nl = text.find('\n');
  return std::string(text.substr(0, nl));
}

std::optional<std::string> kernel_config_value(std::string_view config, std::string_view key) {
  for (std::string_view line : split(config, '\n')) {
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == '=')
      return std::string(trim(line.substr(key.size() + 1)));
    if (line.substr(0, 2) == "# " && line.substr(2, key.size()) == key && line.substr(2 + key.size()) == " is not set")
      return "n";
  }
  return std::nullopt;
}

Result<std::vector<int>> parse_node_list(std::string_view text) {
  std::vector<int> out;
  text = trim(text);
  if (text.empty()) return out;
  for (std::string_view item : split(text, ',')) {
    size_t dash = item.find('-');
    auto lo = to_int(item.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : to_int(item.substr(dash + 1));
    if (!lo || !hi || *hi < *lo || *hi - *lo > 65536)
      return make_error(ErrorKind::runtime, "malformed node list '{}'", std::string(text));
    for (int n = *lo; n <= *hi; n++) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string format_node_list(const std::vector<int>& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size();) {
    size_t j = i;
    while (j + 1 < nodes.size() && nodes[j + 1] == nodes[j] + 1) j++;
    if (!out.empty()) out += ',';
    out += std::to_string(nodes[i]);
    if (j > i) out += "-" + std::to_string(nodes[j]);
    i = j + 1;
  }
  return out;
}

std::optional<std::string> parse_selected_choice(std::string_view text) {
  size_t open = text.find('[');
  if (open == std::string_view::npos) return std::nullopt;
  size_t close = text.find(']', open);
  if (close == std::string_view::npos || close == open + 1) return std::nullopt;
  return std::string(text.substr(open + 1, close - open - 1));
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  // "36 35 98:0 /root /mnt opts [optional...] - fstype source superopts"
  std::vector<MountEntry> out;
  for (std::string_view line : split(text, '\n')) {
    if (trim(line).empty()) continue;
    std::vector<std::string_view> f;
    for (auto tok : split(line, ' '))
      if (!tok.empty()) f.push_back(tok);
    auto sep = std::find(f.begin(), f.end(), std::string_view("-"));
    if (f.size() < 5 || std::distance(sep, f.end()) < 3) continue;
    MountEntry m;
    m.mount_point = unescape_octal(f[4]);
    m.fstype = std::string(*(sep + 1));
    m.source = unescape_octal(*(sep + 2));
    if (sep + 3 < f.end()) m.super_options = std::string(*(sep + 3));
    out.push_back(std::move(m));
  }
  return out;
}

CgroupLayout cgroup_layout(const std::vector<MountEntry>& mounts) {
  CgroupLayout c;
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup2") {
      c.v2_mounts.push_back(m.mount_point);
    } else if (m.fstype == "cgroup") {
      CgroupV1Hierarchy h;
      h.mount_point = m.mount_point;
      // Super options mix flags (rw, nsdelegate) with the hierarchy's controllers.
      static const std::vector<std::string_view> flags = {
          "rw", "ro", "noprefix", "xattr", "nsroot", "clone_children", "cpuset_v2_mode", "favordynmods"};
      for (auto opt : split(m.super_options, ',')) {
        if (opt.empty() || std::find(flags.begin(), flags.end(), opt) != flags.end()) continue;
        if (opt.substr(0, 13) == "release_agent") continue;
        h.controllers.emplace_back(opt);
      }
      c.v1.push_back(std::move(h));
    }
  }
  bool v1 = !c.v1.empty(), v2 = !c.v2_mounts.empty();
  c.mode = v1 && v2 ? "hybrid" : v2 ? "unified" : v1 ? "legacy" : "none";
  return c;
}

std::optional<int64_t> parse_proc_sched_ns(std::string_view text, std::string_view key) {
  for (std::string_view line : split(text, '\n')) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || trim(line.substr(0, colon)) != key) continue;
    std::string_view v = trim(line.substr(colon + 1));
    size_t dot = v.find('.');
    int64_t whole = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + (dot == std::string_view::npos ? v.size() : dot), whole);
    if (ec != std::errc() || whole < 0) return std::nullopt;
    if (dot == std::string_view::npos) return p == v.data() + v.size() ? std::optional<int64_t>(whole) : std::nullopt;
    // PN(): milliseconds with six decimals, i.e. "ms.ns".
    std::string_view frac = v.substr(dot + 1);
    if (frac.size() != 6 || !std::all_of(frac.begin(), frac.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return std::nullopt;
    return whole * 1'000'000 + std::stoll(std::string(frac));
  }
  return std::nullopt;
}

std::optional<KernelVersion> parse_release_version(std::string_view release) {
  size_t dot = release.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view minor = release.substr(dot + 1);
  minor = minor.substr(0, std::min(minor.find_first_not_of("0123456789"), minor.size()));
  auto ma = parse_number<int>(release.substr(0, dot)), mi = parse_number<int>(minor);
  if (!ma || !mi) return std::nullopt;
  return KernelVersion{*ma, *mi};
}

}  // namespace aitrace
