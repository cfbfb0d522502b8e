#include "aitrace/core/cgroup_namespace.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace aitrace {

namespace fs = std::filesystem;

Cgroup2Mount cgroup2_mount_info() {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    // "<id> <parent> <maj:min> <root> <mount point> <opts> ... - <fstype> <source> <super opts>"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mnt;
    head >> id >> parent >> dev >> root >> mnt;
    return {mnt, root};
  }
  return {};
}

std::optional<size_t> levels_above_namespace(std::string_view mount_root) {
  if (mount_root == "/") return 0;
  size_t levels = 0;
  while (mount_root.substr(0, 3) == "/..") {
    levels++;
    mount_root.remove_prefix(3);
  }
  if (!mount_root.empty() || levels == 0) return std::nullopt;
  return levels;
}

Result<std::string> own_cgroup() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return make_error(ErrorKind::unsupported, "no cgroup v2 line (0::) in /proc/self/cgroup");
}

namespace {

bool lists_pid(const fs::path& procs, pid_t pid) {
  std::ifstream f(procs);
  for (pid_t p = 0; f >> p;)
    if (p == pid) return true;
  return false;
}

// The directories exactly `depth` levels below `top` (relative paths, "/a/b").
void directories_at(const fs::path& top, const std::string& rel, size_t depth, std::vector<std::string>& out) {
  if (depth == 0) {
    out.push_back(rel);
    return;
  }
  std::error_code ec;  // a cgroup removed while it is walked is simply not there
  for (const auto& d : fs::directory_iterator(top / rel.substr(rel.empty() ? 0 : 1), ec))
    if (d.is_directory(ec) && !d.is_symlink(ec)) directories_at(top, rel + "/" + d.path().filename().string(), depth - 1, out);
}

}  // namespace

Result<std::string> cgroup_namespace_root(const Cgroup2Mount& mount) {
  const auto levels = levels_above_namespace(mount.root);
  if (!levels)
    return make_error(ErrorKind::unsupported,
                      "the cgroup2 mount at {} shows root {} from this cgroup namespace: it does not hold the namespace's "
                      "root, so --cgroup cannot be read against it",
                      mount.point, mount.root);
  if (*levels == 0) return std::string();
  auto own = own_cgroup();
  if (!own) return own.error();
  // The namespace root is one of the directories `levels` below the mount's root; the caller's
  // own cgroup (relative to that root) lists the caller's pid only below the right one.
  std::vector<std::string> candidates, found;
  directories_at(mount.point, "", *levels, candidates);
  const std::string below = *own == "/" ? "" : *own;
  for (const std::string& c : candidates) {
    std::string dir = mount.point;
    dir += c;
    dir += below;
    if (lists_pid(fs::path(dir) / "cgroup.procs", getpid())) found.push_back(c);
  }
  if (found.size() != 1)
    return make_error(ErrorKind::runtime,
                      "cannot find this cgroup namespace's root on the cgroup2 mount at {} ({} levels below its root, "
                      "holding {}): {} candidates",
                      mount.point, *levels, *own, found.size());
  return found.front();
}

}  // namespace aitrace
