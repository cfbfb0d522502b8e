#include "aitrace/core/targets.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/cgroup_namespace.hpp"
#include "aitrace/core/container_cgroups.hpp"
#include "aitrace/core/pid_namespace.hpp"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace aitrace {

Result<std::vector<uint32_t>> parse_id_list(const std::string& text, const char* what) {
  std::vector<uint32_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v == 0)
      return make_error(ErrorKind::usage, "invalid {} '{}': expected a positive number", what, item);
    out.push_back(v);
  }
  if (out.empty()) return make_error(ErrorKind::usage, "empty {} list", what);
  // getline drops one trailing empty item: "1," would pass as "1".
  if (text.back() == ',') return make_error(ErrorKind::usage, "invalid {} list '{}': it ends with a comma", what, text);
  return out;
}

std::string cgroup2_mount() { return cgroup2_mount_info().point; }

Result<uint32_t> tgid_of(uint32_t tid) {
  std::ifstream f("/proc/" + std::to_string(tid) + "/status");
  if (!f) {
    // A thread that is not a group leader is not listed in /proc, but /proc/<tid> still opens;
    // nothing found means it does not exist.
    return make_error(ErrorKind::usage, "no such process or thread: {}", tid);
  }
  std::string line;
  std::optional<uint32_t> tgid;
  while (std::getline(f, line)) {
    if (line.rfind("State:", 0) == 0 && line.find("(zombie)") != std::string::npos)
      return make_error(ErrorKind::usage, "process or thread {} has exited", tid);
    if (line.rfind("Tgid:", 0) == 0) tgid = static_cast<uint32_t>(std::stoul(line.substr(5)));
  }
  if (tgid) return *tgid;
  return make_error(ErrorKind::usage, "no such process or thread: {}", tid);
}

bool comm_is_running(const std::string& comm) {
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename();
    if (pid.empty() || pid[0] < '0' || pid[0] > '9') continue;
    std::error_code tec;  // a process that exits while it is read is simply not there
    for (const auto& task : std::filesystem::directory_iterator(proc.path() / "task", tec)) {
      std::ifstream f(task.path() / "comm");
      std::string name;
      if (std::getline(f, name) && name == comm) return true;
    }
  }
  return false;
}

namespace {

Result<std::pair<std::string, uint64_t>> resolve_cgroup(std::string given) {
  const Cgroup2Mount mount = cgroup2_mount_info();
  const std::string& mnt = mount.point;
  if (mnt.empty()) return make_error(ErrorKind::unsupported, "--cgroup needs cgroup v2, and no cgroup2 mount was found");
  if (given == "self") {
    auto own = own_cgroup();
    if (!own) return make_error(ErrorKind::unsupported, "--cgroup self: {}", own.error().message);
    given = *own;
  }
  // Paths are read against the cgroup namespace's root, as /proc/<pid>/cgroup prints them
  // ("/system.slice/x.service"): inside a namespace whose root is below the mount's, "/" is the
  // namespace's root, not the host's (docs/containers.md).
  auto ns_root = cgroup_namespace_root(mount);
  if (!ns_root) return ns_root.error();
  const std::string top = mnt + *ns_root;
  // A path already on the mount is read from the namespace's root too; anything else is
  // relative to that root.
  std::string path = given;
  bool on_mount = given == mnt || given.rfind(mnt + "/", 0) == 0;
  if (on_mount && !ns_root->empty()) {
    given = given.substr(mnt.size());
    on_mount = false;
  }
  // A path under /sys/fs/cgroup that is not on the cgroup2 mount is a cgroup v1 hierarchy on a
  // hybrid host (/sys/fs/cgroup/memory/...): say so rather than look for it below the v2 mount.
  if (!on_mount && given.rfind("/sys/fs/cgroup/", 0) == 0 && mnt.rfind(given, 0) != 0)
    return make_error(ErrorKind::usage,
                      "--cgroup {}: not on the cgroup v2 mount; --cgroup takes a cgroup v2 path, under {} or relative "
                      "to it (the 0:: line of /proc/PID/cgroup), not a cgroup v1 one",
                      given, mnt);
  if (!on_mount) path = top + (given.empty() || given[0] != '/' ? "/" : "") + given;
  struct stat st{};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ErrorKind::usage, "no such cgroup: {} (looked for {})", given, path);
  struct statfs sfs{};
  if (statfs(path.c_str(), &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
    return make_error(ErrorKind::usage, "{} is not a cgroup v2 directory (cgroup2 is mounted at {})", path, mnt);
  // On cgroup2 the directory's inode number is the kernfs id the kernel reports as cgroup id.
  return std::pair{path, static_cast<uint64_t>(st.st_ino)};
}

}  // namespace

Result<ResolvedTargets> resolve_targets(const TargetSpec& spec) {
  ResolvedTargets t;
  auto ns = caller_pid_namespace();
  if (!ns) return ns.error();
  t.cfg.pidns_level = ns->level;
  t.cfg.pidns_inum = ns->inum;
  t.cfg.host_pids = spec.host_pids && !ns->initial();
  // -p/-t are checked in /proc; one mounted for another pid namespace would check other ids.
  if (!ns->initial() && (!spec.pids.empty() || !spec.tids.empty()) && !proc_matches_pid_namespace())
    return make_error(ErrorKind::usage,
                      "-p/-t take ids in aitrace's pid namespace, and /proc here shows another one (/proc/self is "
                      "not pid {}): mount a /proc for this namespace (unshare --mount-proc)",
                      getpid());
  for (uint32_t pid : spec.pids) {
    auto tgid = tgid_of(pid);
    if (!tgid) return tgid.error();
    // A thread id is not a process: tracing its whole process would trace what was not asked for.
    if (*tgid != pid)
      return make_error(ErrorKind::usage, "-p {}: {} is a thread of process {}; use -t {} for the thread or -p {} for the process",
                        pid, pid, *tgid, pid, *tgid);
    t.tgids.push_back(*tgid);
  }
  for (uint32_t tid : spec.tids) {
    auto tgid = tgid_of(tid);
    if (!tgid) return tgid.error();
    t.tids.push_back(tid);
  }
  if (t.tgids.size() > AITRACE_FILTER_MAX_PIDS || t.tids.size() > AITRACE_FILTER_MAX_PIDS)
    return make_error(ErrorKind::usage, "at most {} pids or tids can be traced", AITRACE_FILTER_MAX_PIDS);
  if (spec.comm) {
    if (spec.comm->empty() || spec.comm->size() >= AITRACE_COMM_LEN)
      return make_error(ErrorKind::usage, "--comm must be 1 to {} characters (the kernel's comm length): '{}'",
                        AITRACE_COMM_LEN - 1, *spec.comm);
    t.cfg.by_comm = 1;
    std::memcpy(t.cfg.comm, spec.comm->data(), spec.comm->size());
  }
  std::optional<std::string> cgroup = spec.cgroup;
  if (spec.container) {
    if (spec.cgroup) return make_error(ErrorKind::usage, "--container and --cgroup cannot be combined");
    const std::string mnt = cgroup2_mount();
    if (mnt.empty()) return make_error(ErrorKind::unsupported, "--container needs cgroup v2, and no cgroup2 mount was found");
    auto c = resolve_container(*spec.container, find_container_cgroups(mnt));
    if (!c) return c.error();
    cgroup = c->path;
  }
  if (cgroup) {
    auto cg = resolve_cgroup(*cgroup);
    if (!cg) return cg.error();
    t.cgroup_path = cg->first;
    t.cfg.by_cgroup = 1;
    t.cfg.cgroup_id = cg->second;
  }
  t.cfg.by_tgid = !t.tgids.empty() || spec.follow_forks;
  t.cfg.by_tid = !t.tids.empty();
  t.cfg.follow_forks = spec.follow_forks;
  return t;
}

void add_launched_process(ResolvedTargets& t, uint32_t pid) {
  t.tgids.push_back(pid);
  t.cfg.by_tgid = 1;
  t.cfg.follow_forks = 1;
}

Status fill_filter_maps(bpf_map* tgids, bpf_map* tids, const ResolvedTargets& t) {
  uint8_t one = 1;
  for (uint32_t id : t.tgids) {
    int err = bpf_map__update_elem(tgids, &id, sizeof(id), &one, sizeof(one), BPF_ANY);
    if (err) return make_error(ErrorKind::runtime, "filling the pid filter: {}", bpf_error_text(err));
  }
  for (uint32_t id : t.tids) {
    int err = bpf_map__update_elem(tids, &id, sizeof(id), &one, sizeof(one), BPF_ANY);
    if (err) return make_error(ErrorKind::runtime, "filling the tid filter: {}", bpf_error_text(err));
  }
  return {};
}

}  // namespace aitrace
