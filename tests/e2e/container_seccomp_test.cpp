// A real container runtime (podman with runc, from Debian) starts aitrace with only CAP_BPF and
// CAP_PERFMON. With the runtime's default seccomp profile the kernel refuses bpf() and aitrace
// says it was seccomp; with deploy/seccomp/aitrace.json it traces, and in the container's own
// pid namespace it traces a workload of the same container by the pid the container sees.
#include "test_support.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

constexpr const char* kContainerWorkloads = "/aitrace-workloads";

std::string container_binary() { return "/aitrace-bin/" + fs::path(test::aitrace_binary()).filename().string(); }

// The container's root is the host's, as a throwaway overlay (`:O`), so the binary's shared
// libraries are there without building an image; the build directory and the test workloads are
// mounted read-only. `args` follow the program (aitrace unless `program` names another).
test::CommandResult in_container(const std::vector<std::string>& security, const std::vector<std::string>& args,
                                 const std::string& program = container_binary()) {
  const std::string bin_dir = fs::path(test::aitrace_binary()).parent_path().string();
  const std::string workload_dir = fs::path(test::workload("named_threads")).parent_path().string();
  std::vector<std::string> argv = {"podman", "run", "--rm", "--runtime", "runc",
                                   // This VM lacks CAP_SYS_RESOURCE: the runtime may not raise these limits.
                                   "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                   "--cap-drop=all", "--cap-add=bpf", "--cap-add=perfmon",
                                   "-v", bin_dir + ":/aitrace-bin:ro", "-v", workload_dir + ":" + std::string(kContainerWorkloads) + ":ro"};
  argv.insert(argv.end(), security.begin(), security.end());
  argv.insert(argv.end(), {"--rootfs", "/:O", program});
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_command(argv, std::chrono::seconds(120));
}

void require_podman() {
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to run podman with capabilities");
  if (!fs::exists("/usr/bin/podman") || (!fs::exists("/usr/sbin/runc") && !fs::exists("/usr/bin/runc")))
    AITRACE_REQUIRE_ENV_OR_SKIP("podman and runc are not installed (scripts/setup installs them)");
}

TEST(ContainerSeccomp, DefaultProfileIsExplainedAndTheShippedOneTraces) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  auto refused = in_container({}, {"sched", "-d", "1", "--by", "none"});
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("a seccomp filter is installed"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("deploy/seccomp/aitrace.json"), std::string::npos) << refused.err;

  const std::string profile = std::string(AITRACE_SOURCE_DIR) + "/deploy/seccomp/aitrace.json";
  auto traced = in_container({"--security-opt", "seccomp=" + profile}, {"sched", "-d", "1", "--by", "none", "--json"});
  ASSERT_EQ(traced.exit_code, 0) << traced.err;
  EXPECT_NE(traced.out.find("\"switches\""), std::string::npos) << traced.out.substr(0, 400);
}

// --by container on the host names a real podman container: its group has the id podman printed,
// runtime podman (libpod-<id> cgroup) and the busy loop's CPU time.
TEST(ContainerSeccomp, ByContainerNamesARealPodmanContainer) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  const std::string name = "aitrace-by-container-" + std::to_string(getpid());
  auto started = test::run_command({"podman", "run", "-d", "--rm", "--name", name, "--runtime", "runc", "--ulimit",
                                    "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rootfs", "/:O", "/bin/sh",
                                    "-c", "while :; do :; done"},
                                   std::chrono::seconds(120));
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string id = started.out.substr(0, started.out.find_first_of(" \n"));
  auto r = test::run_command({test::aitrace_binary(), "sched", "--by", "container", "-d", "1", "--json"});
  test::run_command({"podman", "rm", "-f", "-t", "0", name}, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(id.size(), 64u) << started.out;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  bool seen = false;
  for (const auto& g : doc["groups"])
    if (g["owner"] == "container" && g["container"]["id"] == id) {
      seen = true;
      EXPECT_EQ(g["container"]["runtime"], "podman");
      // A busy loop gets its share of 2 CPUs even on a loaded host: far more than 10 ms a second.
      EXPECT_GT(g["histograms"]["oncpu"]["sum"], 10000000u);
    }
  EXPECT_TRUE(seen) << r.out.substr(0, 800);
}

// podman gives the container its own pid namespace: -p takes the workload's pid as the container
// sees it ($! of the container's shell), and the report shows that pid and the tids the
// container's /proc lists, not host ids.
TEST(ContainerSeccomp, TracesAWorkloadOfTheSameContainerByItsContainerPid) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  const std::string profile = std::string(AITRACE_SOURCE_DIR) + "/deploy/seccomp/aitrace.json";
  const std::string script = std::string(kContainerWorkloads) + "/named_threads steady 4000 ctrw & w=$!; sleep 0.5; " +
                             "echo nspid=$w >&2; echo nstids=$(ls /proc/$w/task) >&2; " + container_binary() +
                             " sched -p $w -d 1 --by thread --json; rc=$?; kill $w; exit $rc";
  auto r = in_container({"--security-opt", "seccomp=" + profile}, {"-c", script}, "/bin/sh");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<int64_t> pid = test::ids_after(r.err, "nspid"), tids = test::ids_after(r.err, "nstids");
  ASSERT_EQ(pid.size(), 1u) << r.err;
  ASSERT_EQ(tids.size(), 2u) << r.err;  // the main thread and the sleeper
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  bool sleeper = false;
  for (const auto& g : doc["groups"]) {
    EXPECT_EQ(g["pid"].get<int64_t>(), *pid.begin()) << g.dump();
    EXPECT_TRUE(tids.count(g["tid"].get<int64_t>())) << g.dump();
    sleeper |= g["comm"] == "ctrw" && g["counters"]["switches"].get<uint64_t>() > 0;
  }
  EXPECT_TRUE(sleeper) << r.out.substr(0, 600);
}

}  // namespace
}  // namespace aitrace
