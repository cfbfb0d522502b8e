// The shipped container image (deploy/Containerfile, built by deploy/build-image): one static
// binary and nothing else, run as deploy/kubernetes/daemonset.yaml runs it (user 65534, only
// CAP_BPF and CAP_PERFMON, the shipped seccomp profile, a read-only root) by a real runtime
// (podman with runc): it traces, and `serve` answers a scrape.
#include "test_support.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void require_podman() {
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to build images and run podman with capabilities");
  if (!fs::exists("/usr/bin/podman") || (!fs::exists("/usr/sbin/runc") && !fs::exists("/usr/bin/runc")))
    AITRACE_REQUIRE_ENV_OR_SKIP("podman and runc are not installed (scripts/setup installs them)");
}

// The image, built once for the suite from this build's object files, removed at the end.
class ContainerImage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tag_ = "localhost/aitrace:e2e-" + std::to_string(getpid());
    const std::string build_dir = fs::path(test::aitrace_binary()).parent_path().string();
    build_ = test::run_command({std::string(AITRACE_SOURCE_DIR) + "/deploy/build-image", "--build-dir", build_dir,
                                "--tag", tag_},
                               300s);
  }
  static void TearDownTestSuite() { test::run_command({"podman", "rmi", "-f", tag_}); }

  // `podman run` as the DaemonSet runs the image, with `extra` options before the image.
  static std::vector<std::string> run_argv(const std::vector<std::string>& extra, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"podman", "run", "--rm", "--runtime", "runc",
                                     // This VM lacks CAP_SYS_RESOURCE: the runtime may not raise these limits.
                                     "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                     "--cap-drop=all", "--cap-add=bpf", "--cap-add=perfmon", "--read-only",
                                     "--security-opt",
                                     "seccomp=" + std::string(AITRACE_SOURCE_DIR) + "/deploy/seccomp/aitrace.json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(tag_);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  static std::string tag_;
  static test::CommandResult build_;
};
std::string ContainerImage::tag_;
test::CommandResult ContainerImage::build_;

TEST_F(ContainerImage, HoldsTheStaticBinaryAloneAndRunsAsNobody) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  ASSERT_EQ(build_.exit_code, 0) << build_.err;
  auto mount = test::run_command({"podman", "image", "mount", tag_});
  ASSERT_EQ(mount.exit_code, 0) << mount.err;
  const fs::path root = mount.out.substr(0, mount.out.find('\n'));
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (!e.is_directory()) files.insert(fs::relative(e.path(), root).string());
  test::run_command({"podman", "image", "unmount", tag_});
  EXPECT_EQ(files, (std::set<std::string>{"usr/bin/aitrace"}));
  auto user = test::run_command({"podman", "image", "inspect", "--format", "{{.Config.User}}", tag_});
  EXPECT_EQ(user.out, "65534:65534\n");
}

// The image's binary as runc starts it for a non-root user under containerd or CRI-O: the two
// capabilities in the bounding and permitted sets before exec (setpriv keeps the permitted set
// across the uid change, as runc does), none ambient. Its file capabilities (permitted) carry
// it, also under no_new_privs, which caps them at the permitted set before exec; the same bytes
// without the file capabilities cannot trace.
TEST_F(ContainerImage, FileCapabilitiesServeANonRootUserWithoutAmbientOnes) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  ASSERT_EQ(build_.exit_code, 0) << build_.err;
  auto mount = test::run_command({"podman", "image", "mount", tag_});
  ASSERT_EQ(mount.exit_code, 0) << mount.err;
  const std::string binary = mount.out.substr(0, mount.out.find('\n')) + "/usr/bin/aitrace";
  // Beside the test binary: /tmp may be nosuid, which also ignores file capabilities.
  const std::string plain = fs::path(test::aitrace_binary()).parent_path().string() + "/aitrace-image-nocaps";
  fs::copy_file(binary, plain, fs::copy_options::overwrite_existing);  // copy_file leaves xattrs behind
  auto as_nobody = [&](const std::string& bin, bool no_new_privs) {
    std::vector<std::string> argv = {"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                                     "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all,+bpf,+perfmon"};
    if (no_new_privs) argv.emplace_back("--no-new-privs");
    argv.insert(argv.end(), {bin, "sched", "-d", "1", "--by", "none", "--json"});
    return test::run_command(argv, 60s);
  };
  auto traced = as_nobody(binary, false);
  auto traced_nnp = as_nobody(binary, true);
  auto refused = as_nobody(plain, false);
  test::run_command({"podman", "image", "unmount", tag_});
  fs::remove(plain);
  for (const auto* r : {&traced, &traced_nnp}) {
    EXPECT_EQ(r->exit_code, 0) << r->err;
    EXPECT_NE(r->out.find("\"switches\""), std::string::npos) << r->out.substr(0, 300);
  }
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_NE(refused.err.find("CAP_BPF"), std::string::npos) << refused.err;
}

// deploy/kubernetes/daemonset.yaml parses and asks for what the tests here run the image with.
TEST_F(ContainerImage, TheDaemonSetAsksForWhatTheseTestsRun) {
  const std::string yaml = std::string(AITRACE_SOURCE_DIR) + "/deploy/kubernetes/daemonset.yaml";
  auto r = test::run_command(
      {"python3", "-c",
       "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); s = d['spec']['template']['spec']; "
       "c = s['containers'][0]['securityContext']; "
       "print(d['kind'], c['runAsUser'], c['runAsNonRoot'], c['readOnlyRootFilesystem'], "
       "c['allowPrivilegeEscalation'], ','.join(c['capabilities']['drop']), ','.join(c['capabilities']['add']), "
       "c['seccompProfile']['type'], c['seccompProfile']['localhostProfile'], s['hostPID'])",
       yaml});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "DaemonSet 65534 True True False ALL BPF,PERFMON Localhost aitrace.json True\n");
}

TEST_F(ContainerImage, TracesWithOnlyBpfAndPerfmonUnderTheShippedProfile) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  ASSERT_EQ(build_.exit_code, 0) << build_.err;
  auto r = test::run_command(run_argv({}, {"sched", "-d", "1", "--by", "none", "--json"}), 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"switches\""), std::string::npos) << r.out.substr(0, 400);
}

TEST_F(ContainerImage, ServeAnswersAScrape) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_podman();
  ASSERT_EQ(build_.exit_code, 0) << build_.err;
  const std::string name = "aitrace-e2e-serve-" + std::to_string(getpid());
  const std::string port = std::to_string(test::free_port());
  auto started = test::run_command(
      run_argv({"-d", "--name", name, "--network", "host"}, {"serve", "--listen", "127.0.0.1:" + port, "-i", "200ms"}),
      120s);
  ASSERT_EQ(started.exit_code, 0) << started.err;
  std::string metrics;
  for (int i = 0; i < 100 && metrics.find("aitrace_sched_runqueue_wait_seconds_count") == std::string::npos; i++) {
    std::this_thread::sleep_for(200ms);
    metrics = test::run_command({"curl", "-sS", "-m", "5", "http://127.0.0.1:" + port + "/metrics"}, 10s).out;
  }
  auto logs = test::run_command({"podman", "logs", name});
  auto stopped = test::run_command({"podman", "stop", "-t", "10", name}, 30s);
  test::run_command({"podman", "rm", "-f", name});
  EXPECT_NE(metrics.find("aitrace_sched_runqueue_wait_seconds_count"), std::string::npos)
      << metrics.substr(0, 400) << logs.out << logs.err;
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
}

}  // namespace
}  // namespace aitrace
