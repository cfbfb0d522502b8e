// Real load failures on this kernel reach the user as their real cause.
#include "aitrace/core/bpf_object.hpp"
#include "probe.skel.h"
#include "test_support.hpp"

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace aitrace {
namespace {

using ProbeSkeleton = AITRACE_SKELETON_TYPE(probe);

Result<ProbeSkeleton> ringbuf_probe() {
  auto skel = ProbeSkeleton::open("probe");
  if (!skel) return skel;
  bpf_program* p;
  bpf_object__for_each_program(p, (*skel)->obj) bpf_program__set_autoload(p, p == (*skel)->progs.probe_ringbuf);
  return skel;
}

// As nobody (uid 65534, no capabilities) the kernel refuses BPF: a permission error, exit 4.
TEST(LoadError, WithoutCapabilitiesTheLoadIsAPermissionError) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to switch to uid 65534");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(p[0]);
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    auto skel = ringbuf_probe();
    Status st = skel ? skel->load("probe") : Status{skel.error()};
    std::string out = st.ok() ? "0 loaded" : std::to_string(static_cast<int>(st.error().kind)) + " " + st.error().message;
    (void)!write(p[1], out.data(), out.size());
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "could not become uid 65534";
  EXPECT_EQ(out.substr(0, 2), "4 ") << out;
  // The cause is named (bpf_permission.hpp): here the capabilities, which setuid cleared.
  EXPECT_NE(out.find("(EPERM): this process lacks CAP_BPF and CAP_PERFMON"), std::string::npos) << out;
}

}  // namespace
}  // namespace aitrace
