// What to trace: -p/-t/--comm/--cgroup (and `-- CMD`) resolved and validated against /proc and
// the cgroup v2 mount, then pushed into a collector's filter (rodata before load, maps after).
#pragma once

#include "aitrace/filter.h"
#include "aitrace/core/result.hpp"

#include <bpf/libbpf.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aitrace {

struct TargetSpec {
  std::vector<uint32_t> pids;  // processes (all their threads, later ones too)
  std::vector<uint32_t> tids;  // single threads
  std::optional<std::string> comm;
  std::optional<std::string> cgroup;  // path on the cgroup v2 mount, absolute or relative to it;
                                      // "self": the caller's own cgroup
  std::optional<std::string> container;  // a container id prefix (container_cgroups.hpp)
  bool follow_forks = false;          // set for `-- CMD`
  // Ids are always taken in the caller's pid namespace; with this, shown as host ids, and a
  // whole-system run in a child namespace covers the host's tasks too.
  bool host_pids = false;
};

struct ResolvedTargets {
  aitrace_filter_cfg cfg{};
  std::vector<uint32_t> tgids;
  std::vector<uint32_t> tids;
  std::string cgroup_path;  // absolute path of the cgroup directory, when filtering by cgroup
  bool whole_system() const { return !cfg.by_tgid && !cfg.by_tid && !cfg.by_cgroup && !cfg.by_comm; }
};

// Parses "1,2,3" into ids; rejects empty items, non-numbers and 0.
Result<std::vector<uint32_t>> parse_id_list(const std::string& text, const char* what);
// The cgroup v2 mount point from /proc/self/mountinfo ("" when none).
std::string cgroup2_mount();
// Paths (relative to that mount, "/" for the root) of the cgroups with these ids; ids of
// removed cgroups are missing. One-off: for every tick of a run keep a CgroupPaths.
std::map<uint64_t, std::string> cgroup_paths_for(const std::set<uint64_t>& ids);
Result<ResolvedTargets> resolve_targets(const TargetSpec& spec);
// The tgid of a thread (from /proc/<tid>/status), or an error when it does not exist.
Result<uint32_t> tgid_of(uint32_t tid);

// Whether any thread now running has this comm (/proc/*/task/*/comm).
bool comm_is_running(const std::string& comm);

// For `-- CMD`: the launched child's pid joins the filter before it execs.
void add_launched_process(ResolvedTargets& t, uint32_t pid);

// Sets the skeleton's filter_cfg rodata. Call between open and load.
template <typename Skel>
void set_filter_config(Skel* skel, const ResolvedTargets& t) {
  const_cast<aitrace_filter_cfg&>(skel->rodata->filter_cfg) = t.cfg;
}
// Fills filter_tgids/filter_tids. Call after load.
Status fill_filter_maps(bpf_map* tgids, bpf_map* tids, const ResolvedTargets& t);

}  // namespace aitrace
