// --cgroup inside a cgroup namespace (`unshare --cgroup --mount`): the namespace keeps the host's
// cgroup2 mount, whose root lies above the namespace's root, and `--cgroup /` means the
// namespace's root, as /proc/self/cgroup does there. A busy process in the parent cgroup of the
// namespace's root is outside it and must not be traced; one inside it is.
#include "aitrace/core/targets.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class CgroupNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    AITRACE_REQUIRE_BPF_OR_SKIP();
    if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to create cgroups and a cgroup namespace");
    if (!fs::exists("/usr/bin/unshare")) AITRACE_REQUIRE_ENV_OR_SKIP("unshare (util-linux) is not installed");
    const std::string mount = cgroup2_mount();
    if (mount.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("no cgroup2 mount");
    outer_ = fs::path(mount) / ("aitrace-cgns-" + std::to_string(getpid()));
    inner_ = outer_ / "inner";
    std::error_code ec;
    fs::create_directories(inner_, ec);
    ASSERT_FALSE(ec) << inner_ << ": " << ec.message();
  }
  void TearDown() override {
    if (outside_ > 0) {
      kill(outside_, SIGKILL);
      waitpid(outside_, nullptr, 0);
    }
    if (outer_.empty()) return;
    rmdir(inner_.c_str());
    rmdir(outer_.c_str());
  }

  fs::path outer_, inner_;
  pid_t outside_ = -1;
};

TEST_F(CgroupNamespace, CgroupRootIsTheNamespacesRoot) {
  outside_ = test::spawn_background({"sh", "-c", "while :; do :; done"});
  ASSERT_GT(outside_, 0);
  std::ofstream(outer_ / "cgroup.procs") << outside_ << "\n";
  // The shell moves itself into `inner` and then makes it the namespace's root.
  const std::string inner_script = "sh -c 'while :; do :; done' & s=$!; echo nsspin=$s >&2; echo nscg=$(grep ^0:: "
                                   "/proc/self/cgroup) >&2; " +
                                   test::aitrace_binary() + " sched --cgroup / -d 1 --by process --json; rc=$?; kill $s; exit $rc";
  auto r = test::run_command({"sh", "-c", "echo $$ > " + (inner_ / "cgroup.procs").string() +
                                              " && exec unshare --cgroup --mount sh -c \"$0\"",
                              inner_script},
                             std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Inside, the shell's cgroup is the namespace's root.
  EXPECT_NE(r.err.find("nscg=0::/\n"), std::string::npos) << r.err;
  const auto spin = test::ids_after(r.err, "nsspin");
  ASSERT_EQ(spin.size(), 1u) << r.err;
  json doc = json::parse(r.out);
  bool inside_seen = false;
  for (const auto& g : doc["groups"]) {
    EXPECT_NE(g["pid"].get<int64_t>(), outside_) << "the parent cgroup's process was traced: " << g.dump();
    inside_seen |= g["pid"].get<int64_t>() == *spin.begin();
  }
  EXPECT_TRUE(inside_seen) << r.out.substr(0, 600);
}

}  // namespace
}  // namespace aitrace
