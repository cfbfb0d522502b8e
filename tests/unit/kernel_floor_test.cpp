// aitrace's kernel floor: the verdict on the BPF atomics probe, and the RLIMIT_MEMLOCK handling
// for kernels that charge BPF memory to it (before 5.11), checked against getrlimit(). The
// probes themselves run against the real kernel in tests/bpf/kernel_portability_test.cpp.
#include "aitrace/core/kernel_floor.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace aitrace {
namespace {

constexpr int kCapSysResource = 24;

bool has_cap_sys_resource() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  return syscall(SYS_capget, &h, d) == 0 && (d[0].effective >> kCapSysResource) & 1u;
}

// Drops CAP_SYS_RESOURCE from this (child) process, so a test does not depend on who runs it.
bool drop_cap_sys_resource() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  d[0].effective &= ~(1u << kCapSysResource);
  d[0].permitted &= ~(1u << kCapSysResource);
  return syscall(SYS_capset, &h, d) == 0 && !has_cap_sys_resource();
}

// Runs fn in a child process (limits and capabilities change there only); its exit status.
template <typename Fn>
int in_child(Fn fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(KernelFloor, KernelsWithoutBpfAtomicsAreRefusedInOneLine) {
  Status s = bpf_atomics_floor(false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::unsupported);
  EXPECT_NE(s.error().message.find("Linux 5.12"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
  EXPECT_TRUE(bpf_atomics_floor(true).ok());
  // A probe that could not tell (no permission) leaves the verdict to the real load's error.
  EXPECT_TRUE(bpf_atomics_floor(std::nullopt).ok());
}

TEST(KernelFloor, MemlockIsLeftAloneWhereTheKernelDoesNotChargeIt) {
  rlimit before{}, after{};
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &before), 0);
  EXPECT_TRUE(raise_memlock_for_bpf(false).ok());
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
  EXPECT_EQ(after.rlim_max, before.rlim_max);
}

TEST(KernelFloor, MemlockThatCannotBeRaisedIsAClearError) {
  int rc = in_child([] {
    rlimit low{64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_MEMLOCK, &low) != 0) return 10;
    if (!drop_cap_sys_resource()) return 11;
    Status s = raise_memlock_for_bpf(true);
    if (s.ok()) return 12;
    const std::string& m = s.error().message;
    if (s.error().kind != ErrorKind::privilege || m.find('\n') != std::string::npos) return 13;
    if (m.find("RLIMIT_MEMLOCK") == std::string::npos || m.find("64 KiB") == std::string::npos ||
        m.find("ulimit -l unlimited") == std::string::npos)
      return 14;
    rlimit now{};
    if (getrlimit(RLIMIT_MEMLOCK, &now) != 0 || now.rlim_cur != low.rlim_cur) return 15;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// Each host's branch is asserted, never skipped: with CAP_SYS_RESOURCE or an unlimited hard limit
// the limit becomes unlimited; without (this project's VM: hard limit 8192 KiB) the raise is the
// one-line privilege error and the limit stays as it was.
TEST(KernelFloor, MemlockIsRaisedToUnlimitedWhereAllowedAndRefusedClearlyElsewhere) {
  rlimit cur{};
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &cur), 0);
  const bool allowed = has_cap_sys_resource() || cur.rlim_max == RLIM_INFINITY;
  int rc = in_child([allowed, cur] {
    Status s = raise_memlock_for_bpf(true);
    rlimit now{};
    if (getrlimit(RLIMIT_MEMLOCK, &now) != 0) return 11;
    if (allowed) return s.ok() && now.rlim_cur == RLIM_INFINITY && now.rlim_max == RLIM_INFINITY ? 0 : 12;
    if (s.ok() || s.error().kind != ErrorKind::privilege) return 13;
    return now.rlim_cur == cur.rlim_cur && now.rlim_max == cur.rlim_max ? 0 : 14;
  });
  EXPECT_EQ(rc, 0) << (allowed ? "allowed here" : "not allowed here");
}

}  // namespace
}  // namespace aitrace
