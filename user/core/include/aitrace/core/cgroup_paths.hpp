// Names for the cgroup ids a report shows (--by cgroup), resolved one id at a time and kept:
// on cgroup2 the id is the directory's kernfs inode, and open_by_handle_at() opens it directly,
// so no tick walks the whole cgroup tree (thousands of directories on a container host).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace aitrace {

class CgroupPaths {
 public:
  // root: the cgroup2 mount ("" when there is none: nothing resolves).
  explicit CgroupPaths(std::string root);
  CgroupPaths();  // the mount from /proc/self/mountinfo
  ~CgroupPaths();
  CgroupPaths(const CgroupPaths&) = delete;
  CgroupPaths& operator=(const CgroupPaths&) = delete;

  // Paths relative to the mount ("/" for the root) of those ids that exist; removed ones are
  // missing. Each id costs at most one lookup for the whole run, found or not.
  std::map<uint64_t, std::string> paths(const std::set<uint64_t>& ids);
  // Times the tree was walked: only for ids a file handle could not open (no
  // CAP_DAC_READ_SEARCH), and once per batch of such ids.
  size_t walks() const { return walks_; }

 private:
  std::optional<std::string> by_handle(uint64_t id);
  std::string root_;
  int root_fd_ = -1;
  bool handles_work_ = true;
  std::map<uint64_t, std::optional<std::string>> known_;
  size_t walks_ = 0;
};

}  // namespace aitrace
