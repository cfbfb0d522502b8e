// Where the caller's cgroup namespace root lies on the cgroup2 mount. Inside a cgroup namespace,
// `--cgroup PATH` is read against that root, as /proc/self/cgroup prints paths there. A cgroup2
// mount made before the namespace (the host's, kept by `unshare --cgroup --mount` or bind-mounted
// into a container) has its root above the namespace's: its mountinfo root reads "/..".
#pragma once

#include "aitrace/core/result.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace aitrace {

struct Cgroup2Mount {
  std::string point;  // where it is mounted; "" when there is no cgroup2 mount
  std::string root;   // mountinfo's root: the mount's root relative to the caller's namespace root
};

// The first cgroup2 mount in /proc/self/mountinfo.
Cgroup2Mount cgroup2_mount_info();

// How many levels the mount's root lies above the namespace root: "/" -> 0, "/.." -> 1,
// "/../.." -> 2; nullopt for any other root (the mount is not above the namespace's root).
std::optional<size_t> levels_above_namespace(std::string_view mount_root);

// The caller's cgroup: the 0:: line of /proc/self/cgroup, relative to its namespace root.
Result<std::string> own_cgroup();

// The namespace root as a path relative to the mount ("" when they are the same, "/a/b" else):
// the directory `levels` below the mount root whose subtree holds the caller at own_cgroup().
Result<std::string> cgroup_namespace_root(const Cgroup2Mount& mount);

}  // namespace aitrace
