#include "aitrace/core/cgroup_paths.hpp"

#include "aitrace/core/targets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

namespace aitrace {
namespace {

// The handle type kernfs (cgroup2) gives its files: the 64-bit inode number, which is the id.
constexpr int kFileidKernfs = 0xfe;

}  // namespace

CgroupPaths::CgroupPaths(std::string root) : root_(std::move(root)) {
  if (!root_.empty()) root_fd_ = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

CgroupPaths::CgroupPaths() : CgroupPaths(cgroup2_mount()) {}

CgroupPaths::~CgroupPaths() {
  if (root_fd_ >= 0) close(root_fd_);
}

std::optional<std::string> CgroupPaths::by_handle(uint64_t id) {
  struct {
    file_handle fh;
    unsigned char id[8];
  } h{};
  h.fh.handle_bytes = sizeof(id);
  h.fh.handle_type = kFileidKernfs;
  std::memcpy(h.fh.f_handle, &id, sizeof(id));
  int fd = open_by_handle_at(root_fd_, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    // EPERM: no CAP_DAC_READ_SEARCH; the walk below still finds it. ESTALE: removed.
    if (errno == EPERM || errno == EINVAL || errno == EOPNOTSUPP) handles_work_ = false;
    return std::nullopt;
  }
  char buf[PATH_MAX];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  std::string path(buf, static_cast<size_t>(n));
  if (path.compare(0, root_.size(), root_) != 0) return std::nullopt;  // outside this mount
  std::string rel = path.substr(root_.size());
  return rel.empty() ? "/" : rel;
}

std::map<uint64_t, std::string> CgroupPaths::paths(const std::set<uint64_t>& ids) {
  std::set<uint64_t> unknown;
  for (uint64_t id : ids)
    if (!known_.count(id)) unknown.insert(id);
  if (root_fd_ >= 0 && !unknown.empty()) {
    std::set<uint64_t> walk_for;
    for (uint64_t id : unknown) {
      std::optional<std::string> p = handles_work_ ? by_handle(id) : std::nullopt;
      if (p) known_[id] = std::move(p);
      else if (!handles_work_) walk_for.insert(id);
      else known_[id] = std::nullopt;  // ESTALE: the cgroup is gone
    }
    if (!walk_for.empty()) {
      walks_++;
      auto note = [&](const std::filesystem::path& p) {
        struct stat st{};
        if (stat(p.c_str(), &st) == 0 && walk_for.count(static_cast<uint64_t>(st.st_ino))) {
          std::string rel = p.string().substr(root_.size());
          known_[static_cast<uint64_t>(st.st_ino)] = rel.empty() ? "/" : rel;
          walk_for.erase(static_cast<uint64_t>(st.st_ino));
        }
      };
      note(root_);
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(
               root_, std::filesystem::directory_options::skip_permission_denied, ec);
           it != std::filesystem::recursive_directory_iterator() && !walk_for.empty(); it.increment(ec)) {
        if (ec) break;
        if (it->is_directory(ec) && !it->is_symlink(ec)) note(it->path());
      }
      for (uint64_t id : walk_for) known_[id] = std::nullopt;  // removed, or not visible to us
    }
  }
  std::map<uint64_t, std::string> out;
  for (uint64_t id : ids) {
    auto it = known_.find(id);
    if (it == known_.end()) continue;
    if (const auto& path = it->second) out[id] = *path;
  }
  return out;
}

std::map<uint64_t, std::string> cgroup_paths_for(const std::set<uint64_t>& ids) { return CgroupPaths().paths(ids); }

}  // namespace aitrace
