// BPF tokens (issue 16 item 5): aitrace runs as root of a user namespace that is uid 65534 on the
// host, with only a bpffs the host delegated (tests/workloads/bpffs_delegate does the host's part,
// as a container runtime would). It must attach and count what the kernel's own schedstat counts;
// hooks that go through perf_event_open (classic tracepoints, kprobes, uprobes) must not attach,
// since tokens do not cover perf_event_open; a bad --bpf-token path is one line naming the cause.
#include "kernel_facts.hpp"
#include "test_support.hpp"

#include "aitrace/core/bpf_token.hpp"

#include <nlohmann/json.hpp>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The delegation aitrace documents as enough (bpf_token.hpp), as bpffs_delegate options.
std::vector<std::string> needed_delegation_args() {
  size_t n = 0;
  const NeededDelegation* needed = needed_bpffs_delegation(&n);
  std::vector<std::string> args;
  for (size_t i = 0; i < n; i++) {
    std::string option = needed[i].option;  // "delegate_cmds" -> "--cmds"
    args.push_back("--" + option.substr(std::string("delegate_").size()));
    args.emplace_back(needed[i].needed);
  }
  return args;
}

class BpfToken : public ::testing::Test {
 protected:
  void SetUp() override {
    AITRACE_REQUIRE_BPF_OR_SKIP();
    if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root: the test sets up a user namespace and its bpffs");
    dir_ = fs::temp_directory_path() / ("aitrace-token-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "bpffs");
    fs::create_directories(dir_ / "out");
    chmod(dir_.c_str(), 0755);
    ASSERT_EQ(chown((dir_ / "out").c_str(), 65534, 65534), 0);
    // uid 65534 runs these copies: the build tree need not be readable to it.
    bin_ = (dir_ / "aitrace").string();
    fs::copy_file(test::aitrace_binary(), bin_);
    chmod(bin_.c_str(), 0755);
    truth_ = (dir_ / "sched_truth").string();
    fs::copy_file(test::workload("sched_truth"), truth_);
    chmod(truth_.c_str(), 0755);
  }
  void TearDown() override {
    if (host_mount_) umount2((dir_ / "bpffs").c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string bpffs() const { return (dir_ / "bpffs").string(); }

  // On a kernel without tokens (before 6.9, the VM matrix's 6.1) the same set-up must get no
  // further than the kernel lets it: bpffs_delegate's own set-up fails (exit 125, naming the step),
  // or it succeeds because that bpffs ignores the unknown delegate_* options, and aitrace says the
  // kernel has no tokens (exit 3). True when tokens exist.
  bool tokens_or_setup_refused() {
    if (kernel_has_bpf_tokens()) return true;
    auto r = in_namespace({}, {"sched", "-d", "1"});
    if (r.exit_code == 125) EXPECT_NE(r.err.find("bpffs_delegate: "), std::string::npos) << r.err;
    else EXPECT_NE(r.err.find("this kernel has no BPF tokens"), std::string::npos) << r.exit_code << ": " << r.err;
    EXPECT_TRUE(r.exit_code == 125 || r.exit_code == 3) << r.exit_code << ": " << r.err;
    return false;
  }

  // aitrace SUBCOMMAND --bpf-token DIR ARGS inside a user namespace whose bpffs delegates `delegation`.
  test::CommandResult in_namespace(const std::vector<std::string>& delegation, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {test::workload("bpffs_delegate")};
    argv.insert(argv.end(), delegation.begin(), delegation.end());
    // The subcommand, then --bpf-token, then the rest (which may end in `-- CMD`).
    argv.insert(argv.end(), {bpffs(), "--", bin_, args.at(0), "--bpf-token", bpffs()});
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return test::run_command(argv);
  }

  // The kernel's own answer: a bpffs mounted with delegate_cmds shows the option in mountinfo only
  // where the kernel has tokens (6.9+); older bpffs ignore unknown options. Leaves the mount.
  bool kernel_takes_delegation() {
    if (mount("bpf", bpffs().c_str(), "bpf", 0, "delegate_cmds=any") != 0) {
      ADD_FAILURE() << "mounting a bpffs: " << std::strerror(errno);
      return false;
    }
    host_mount_ = true;
    std::istringstream lines(test::read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(lines, line);)
      if (line.find(" " + bpffs() + " ") != std::string::npos) return line.find("delegate_cmds=") != std::string::npos;
    ADD_FAILURE() << "the bpffs mount is missing from /proc/self/mountinfo";
    return false;
  }

  fs::path dir_;
  std::string bin_, truth_;
  bool host_mount_ = false;
};

std::string only_line(const std::string& err) {
  std::string e = err;
  if (!e.empty() && e.back() == '\n') e.pop_back();
  EXPECT_EQ(e.find('\n'), std::string::npos) << "more than one line: " << err;
  return e;
}

TEST_F(BpfToken, KernelSupportAgreesWithTheBpffsMountOptions) {
  const bool takes = kernel_takes_delegation();
  EXPECT_EQ(kernel_has_bpf_tokens(), takes) << test::kernel_release();
  if (takes) return;
  // A kernel without tokens: the bpffs (which ignored the option) is refused with the reason.
  auto r = test::run_command({bin_, "sched", "-d", "1", "--bpf-token", bpffs()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(only_line(r.err).find("this kernel has no BPF tokens (Linux 6.9+)"), std::string::npos) << r.err;
}

TEST_F(BpfToken, SchedCountsWhatSchedstatCountsAsAnUnprivilegedUserNamespace) {
  if (!tokens_or_setup_refused()) return;
  const std::string out = (dir_ / "out" / "report.json").string();
  // The delegation docs/containers.md lists, not "any": the list is what this test proves.
  auto r = in_namespace(needed_delegation_args(), {"sched", "--by", "thread", "--json", "-o", out, "--", truth_,
                                                   "pingpong", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(test::read_file(out), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r.err;
  for (const auto& [event, state] : doc["hooks"].items()) EXPECT_EQ(state, "attached (tp_btf)") << event;
  EXPECT_EQ(doc["lost"]["transitions_missed"], 0);

  // The workload prints the schedstat timeslices of its two ping-pong threads, read while parked.
  std::map<uint64_t, uint64_t> slices;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') {
      json t = json::parse(line);
      slices[t["tid"].get<uint64_t>()] = t["slices"].get<uint64_t>();
    }
  ASSERT_EQ(slices.size(), 2u) << r.out;
  std::map<uint64_t, uint64_t> switches;
  for (const auto& g : doc["groups"])
    if (!g["tid"].is_null()) switches[g["tid"].get<uint64_t>()] = g["counters"]["switches"].get<uint64_t>();
  for (const auto& [tid, n] : slices) {
    ASSERT_TRUE(switches.count(tid)) << "thread " << tid << " missing from the report";
    EXPECT_GT(n, 100u) << "a ping-pong thread runs hundreds of slices per second";
    // The bound of tests/e2e/sched_truth_test.cpp: the workload read schedstat while the thread
    // was parked; its exit after that adds one or two switch-ins.
    EXPECT_GE(switches[tid], n + 1) << "switch-ins " << switches[tid] << " vs schedstat timeslices " << n;
    EXPECT_LE(switches[tid], n + 3 + n / 1000) << "switch-ins " << switches[tid] << " vs schedstat timeslices " << n;
  }
}

TEST_F(BpfToken, WithoutTracingProgramsTheFallbackIsRawTp) {
  if (!tokens_or_setup_refused()) return;
  // delegate_progs without `tracing`: tp_btf cannot load, raw_tp can, and the probes see it.
  auto r = in_namespace({"--progs", "socket_filter:raw_tracepoint"}, {"sched", "-d", "500ms", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r.out.substr(0, 300);
  for (const auto& [event, state] : doc["hooks"].items()) EXPECT_EQ(state, "attached (raw_tp)") << event;
  uint64_t total = 0;
  for (const auto& g : doc["groups"]) total += g["counters"]["switches"].get<uint64_t>();
  EXPECT_GT(total, 0u);
}

// A collector the host cannot run is left out of a capture with the kernel's reason, and the
// capture goes on: here the token delegates every map type but offcpu's stack_trace, so the kernel
// refuses offcpu's load (EPERM) while sched, migrate and dma load.
TEST_F(BpfToken, CaptureLeavesOutTheCollectorTheTokenDoesNotCover) {
  if (!tokens_or_setup_refused()) return;
  const std::string maps = "array:hash:percpu_array:percpu_hash:ringbuf:array_of_maps:task_storage";
  const std::string bundle = (dir_ / "out" / "bundle").string();
  auto r = in_namespace({"--maps", maps}, {"capture", "-d", "1s", "-o", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("aitrace: capture goes on without offcpu: loading the offcpu BPF programs failed: Operation "
                       "not permitted (EPERM)"),
            std::string::npos)
      << r.err;
  const json summary = json::parse(test::read_file(bundle + "/summary.json"), nullptr, false);
  ASSERT_TRUE(summary.is_object());
  ASSERT_TRUE(summary["unavailable"].contains("offcpu")) << summary["unavailable"].dump();
  EXPECT_EQ(summary["unavailable"].size(), 1u) << summary["unavailable"].dump();
  for (const char* c : {"sched", "migrate", "dma"}) EXPECT_TRUE(summary["collectors"].contains(c)) << c;
  EXPECT_FALSE(summary["collectors"].contains("offcpu"));
  EXPECT_FALSE(fs::exists(bundle + "/offcpu.svg"));
  // The report says what was not captured, and why.
  const std::string html = test::read_file(bundle + "/report.html");
  EXPECT_NE(html.find("offcpu</b>: not captured: loading the offcpu BPF programs failed"), std::string::npos);
}

TEST_F(BpfToken, DoctorShowsWhatATokenCoversAndWhatNot) {
  if (!tokens_or_setup_refused()) return;
  // Everything delegated ("any"): the perf-event hooks load, so what refuses them is the attach.
  auto r = in_namespace({}, {"doctor", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r.out.substr(0, 300);
  const json& hooks = doc["hooks"];
  EXPECT_EQ(hooks["tp_btf"]["value"]["works"], true) << hooks["tp_btf"].dump();
  EXPECT_EQ(hooks["raw_tp"]["value"]["works"], true) << hooks["raw_tp"].dump();
  EXPECT_EQ(hooks["ringbuf"]["value"]["works"], true) << hooks["ringbuf"].dump();
  // perf_event_open is not covered by tokens: it needs CAP_PERFMON in the host's namespace.
  for (const char* perf_hook : {"tracepoint", "kprobe", "uprobe"}) {
    EXPECT_EQ(hooks[perf_hook]["value"]["works"], false) << perf_hook;
    const std::string error = hooks[perf_hook]["value"]["error"].get<std::string>();
    EXPECT_TRUE(error.starts_with("attach: ")) << error;
    EXPECT_NE(error.find("perf_event_open"), std::string::npos) << error;
  }
  const json& iso = doc["isolation"];
  EXPECT_EQ(iso["bpf_token_kernel"]["value"], true);
  EXPECT_EQ(iso["bpf_token"]["status"], "ok") << iso["bpf_token"].dump();
  EXPECT_EQ(iso["bpf_token"]["value"]["path"], bpffs());
  EXPECT_EQ(iso["user_namespace"]["value"], "child");
  bool listed = false;
  for (const auto& m : iso["bpffs_delegation"]["value"])
    if (m["mount_point"] == bpffs()) {
      listed = true;
      EXPECT_EQ(m["missing"], json::object()) << m.dump();
    }
  EXPECT_TRUE(listed) << iso["bpffs_delegation"].dump();
}

TEST_F(BpfToken, BadPathsAreOneLineWithTheCause) {
  auto missing = test::run_command({bin_, "sched", "-d", "1", "--bpf-token", (dir_ / "nope").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(only_line(missing.err).find("No such file or directory"), std::string::npos) << missing.err;
  auto not_bpffs = test::run_command({bin_, "sched", "-d", "1", "--bpf-token", dir_.string()});
  EXPECT_EQ(not_bpffs.exit_code, 2);
  EXPECT_NE(only_line(not_bpffs.err).find("not a BPF filesystem (bpffs)"), std::string::npos) << not_bpffs.err;
  // The environment variable is checked the same way and named in the message.
  auto env = test::run_command({"env", "LIBBPF_BPF_TOKEN_PATH=" + dir_.string(), bin_, "sched", "-d", "1"});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_NE(only_line(env.err).find("LIBBPF_BPF_TOKEN_PATH " + dir_.string() + ": not a BPF filesystem"),
            std::string::npos)
      << env.err;
  if (!kernel_has_bpf_tokens()) return;
  // A bpffs without delegate_* options, made for the namespace: no token.
  auto none = in_namespace({"--cmds", "", "--maps", "", "--progs", "", "--attachs", ""}, {"sched", "-d", "1"});
  EXPECT_EQ(none.exit_code, 4);
  EXPECT_NE(only_line(none.err).find("mounted without delegate_"), std::string::npos) << none.err;
  // The host's own delegated bpffs, from the host: the kernel makes no token in the initial namespace.
  ASSERT_TRUE(kernel_takes_delegation());
  auto host = test::run_command({bin_, "sched", "-d", "1", "--bpf-token", bpffs()});
  EXPECT_EQ(host.exit_code, 2);
  EXPECT_NE(only_line(host.err).find("belongs to the host's (initial) user namespace"), std::string::npos)
      << host.err;
}

}  // namespace
}  // namespace aitrace
