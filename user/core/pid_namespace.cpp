#include "aitrace/core/pid_namespace.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/bpf_permission.hpp"
#include "probe.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace aitrace {

namespace {

using ProbeSkeleton = AITRACE_SKELETON_TYPE(probe);

Result<uint32_t> own_pid_namespace_inode() {
  struct stat st{};
  if (stat("/proc/self/ns/pid", &st) != 0)
    return make_error(ErrorKind::runtime, "cannot read /proc/self/ns/pid: {}", std::strerror(errno));
  return static_cast<uint32_t>(st.st_ino);
}

// current's pid->level and the inode of numbers[level].ns, from probe_pidns run once.
Result<PidNamespace> probe_pid_namespace() {
  auto skel = ProbeSkeleton::open("probe");
  if (!skel) return skel.error();
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->get()->obj) {
    bpf_program__set_autoload(prog, prog == skel->get()->progs.probe_pidns);
  }
  int err = probe_bpf__load(skel->get());
  if (err == -EPERM) return bpf_denied_error("loading the pid namespace probe");
  if (err) return make_error(ErrorKind::unsupported, "loading the pid namespace probe: {}", bpf_error_text(err));
  LIBBPF_OPTS(bpf_test_run_opts, run);
  err = bpf_prog_test_run_opts(bpf_program__fd(skel->get()->progs.probe_pidns), &run);
  if (err)
    return make_error(ErrorKind::unsupported, "running the pid namespace probe: {}", bpf_error_text(-errno));
  const auto* bss = skel->get()->bss;
  if (!bss->pidns_found) return make_error(ErrorKind::unsupported, "the pid namespace probe found no pid for aitrace");
  return PidNamespace{bss->pidns_level, bss->pidns_inum};
}

}  // namespace

Result<PidNamespace> caller_pid_namespace() {
  auto inode = own_pid_namespace_inode();
  if (!inode) return inode.error();
  if (*inode == kInitialPidNamespaceInode) return PidNamespace{};
  auto ns = probe_pid_namespace();
  if (!ns) return ns.error();
  // Both name the namespace aitrace runs in; a mismatch would map every id wrongly.
  if (ns->inum != *inode)
    return make_error(ErrorKind::runtime, "pid namespace: the kernel says inode {}, /proc/self/ns/pid says {}", ns->inum,
                      *inode);
  return ns;
}

bool proc_matches_pid_namespace() {
  char buf[32] = {};
  ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
  return n > 0 && std::string(buf, static_cast<size_t>(n)) == std::to_string(getpid());
}

}  // namespace aitrace
