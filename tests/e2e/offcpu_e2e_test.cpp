// `aitrace offcpu` against a workload that measures its own blocked time: the folded stacks hold
// its known chain (main -> run -> outer -> wait_here) above the kernel frames where it blocked,
// with a weight within 10% of what the workload measured around its system calls. The 10% holds
// the on-CPU part of each call (entry, copy, exit: microseconds per call, a few hundred calls),
// which the workload's clock sees and the off-CPU interval does not.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

namespace aitrace {
namespace {

using nlohmann::json;

constexpr const char* kChain =
    ";main;(anonymous namespace)::run;(anonymous namespace)::outer;(anonymous namespace)::wait_here;";

std::string temp_path(const char* tag) {
  return (std::filesystem::temp_directory_path() /
          (std::string("aitrace-offcpu-") + tag + "-" + std::to_string(getpid())))
      .string();
}

struct OffcpuRun {
  test::CommandResult cmd;
  std::string report;  // the -o file
  long long blocked_ns = -1;
};

OffcpuRun run_offcpu(std::vector<std::string> opts, std::vector<std::string> workload_args) {
  OffcpuRun r;
  const std::string out = temp_path("report");
  std::filesystem::remove(out);
  std::vector<std::string> argv = {test::aitrace_binary(), "offcpu", "-o", out};
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.emplace_back("--");
  argv.push_back(test::workload("offcpu_chain"));
  argv.insert(argv.end(), workload_args.begin(), workload_args.end());
  r.cmd = test::run_command(argv, std::chrono::seconds(60));
  r.report = test::read_file(out);
  std::filesystem::remove(out);
  std::istringstream lines(r.cmd.out);
  std::string key;
  long long v = 0;
  while (lines >> key >> v)
    if (key == "blocked_ns") r.blocked_ns = v;
  return r;
}

// Microseconds on the folded lines that hold every part.
uint64_t folded_weight(const std::string& folded, const std::vector<std::string>& parts) {
  uint64_t us = 0;
  std::istringstream lines(folded);
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) us += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  return us;
}

bool has_frame(const json& frames, std::string_view part) {
  for (const auto& f : frames)
    if (f.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

TEST(OffcpuE2E, PipeReadChainWeighsWhatTheWorkloadMeasured) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  OffcpuRun r = run_offcpu({"--folded"}, {"pipe", "2000"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  ASSERT_GT(r.blocked_ns, 1'000'000'000) << r.cmd.out;
  const uint64_t us = folded_weight(r.report, {kChain, "pipe_read"});
  // 10% is issue 17's bound: the workload times its own system calls with steady_clock from
  // user space, so its figure includes the entry and exit around each block that the kernel's
  // switch-out to switch-in interval does not.
  EXPECT_NEAR(static_cast<double>(us) * 1000, static_cast<double>(r.blocked_ns), 0.1 * static_cast<double>(r.blocked_ns))
      << r.report;
  // The writer thread sleeps under its own name; the drops are on stderr beside the folded lines.
  EXPECT_NE(r.report.find("offcpu_writer;"), std::string::npos) << r.report;
  EXPECT_NE(r.cmd.err.find("lost: stack hash collisions 0, stack map full 0"), std::string::npos) << r.cmd.err;
}

TEST(OffcpuE2E, WakersNameTheWriterThreadAsThePipeReadersWaker) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  OffcpuRun r = run_offcpu({"--wakers", "--json", "--top", "1000"}, {"pipe", "1000"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  ASSERT_GT(r.blocked_ns, 500'000'000) << r.cmd.out;
  const json doc = json::parse(r.report);
  uint64_t by_writer = 0, other = 0;
  for (const auto& st : doc["stacks"]) {
    if (!has_frame(st["user_frames"], "wait_here") || !has_frame(st["kernel_frames"], "pipe_read")) continue;
    const bool writer = st.contains("waker") && st["waker"]["comm"] == "offcpu_writer" &&
                        has_frame(st["waker"]["kernel_frames"], "pipe_write");
    (writer ? by_writer : other) += st["total_ns"].get<uint64_t>();
  }
  // Every read is ended by the writer's write(): the waker's stack is taken in its context. A
  // write on the other CPU can wake the reader after it set TASK_INTERRUPTIBLE but before its
  // switch-out was recorded; that read then has no waker (seen once under load: one 19 us read of
  // about 200). Such reads are the short ones, so they stay far under 1% of the blocked time,
  // while a waker lost for another reason would take whole 5 ms reads.
  EXPECT_LT(static_cast<double>(other), 0.01 * static_cast<double>(r.blocked_ns)) << r.report;
  // The rest is the writer's, held to issue 17's 10% as the chain weight above: the workload's
  // steady_clock figure includes the system-call entry and exit around each block.
  EXPECT_NEAR(static_cast<double>(by_writer), static_cast<double>(r.blocked_ns),
              0.1 * static_cast<double>(r.blocked_ns))
      << r.report;
}

TEST(OffcpuE2E, IntervalsHoldNoMoreThanTheirDuration) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // One thread cannot be off-CPU longer than an interval, give or take the one block that spans
  // its start (5 ms here). A snapshot smeared over a slow symbolization (kallsyms read inside
  // the first report) broke this by 170 ms.
  OffcpuRun r = run_offcpu({"--json", "-i", "500ms"}, {"pipe", "1600"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  std::istringstream lines(r.cmd.out);  // interval reports go to stdout, the final one to -o
  int intervals = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;  // the workload's own line
    const json doc = json::parse(line);
    if (!doc["interval"].get<bool>()) continue;
    intervals++;
    uint64_t main_ns = 0;
    for (const auto& st : doc["stacks"])
      if (has_frame(st["user_frames"], "wait_here")) main_ns += st["total_ns"].get<uint64_t>();
    EXPECT_LE(main_ns, doc["duration_ns"].get<uint64_t>() + 50'000'000) << line;
  }
  EXPECT_GE(intervals, 2);
}

TEST(OffcpuE2E, VforkParentBlocksInD) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  OffcpuRun r = run_offcpu({"--state", "block", "--json"}, {"vfork", "1500"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  ASSERT_GT(r.blocked_ns, 1'000'000'000) << r.cmd.out;
  const json doc = json::parse(r.report);
  EXPECT_EQ(doc["states"], json::array({"block"}));
  uint64_t ns = 0;
  for (const auto& st : doc["stacks"]) {
    EXPECT_EQ(st["state"], "block") << st.dump();
    if (has_frame(st["user_frames"], "wait_here") && has_frame(st["kernel_frames"], "kernel_clone"))
      ns += st["total_ns"].get<uint64_t>();
  }
  // 10% is issue 17's bound: the workload times its own system calls with steady_clock from
  // user space, so its figure includes the entry and exit around each block that the kernel's
  // switch-out to switch-in interval does not.
  EXPECT_NEAR(static_cast<double>(ns), static_cast<double>(r.blocked_ns), 0.1 * static_cast<double>(r.blocked_ns))
      << r.report;
}

TEST(OffcpuE2E, StateAndMinimumAreAppliedInTheKernel) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // The vfork parent waits 20 ms in D each time; its children sleep 20 ms in S (nanosleep); the
  // parent's waitpid() after each is a short S wait. --state sleep drops the first, --min 15ms
  // the last.
  OffcpuRun r = run_offcpu({"--folded", "--state", "sleep", "--min", "15ms"}, {"vfork", "600"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  EXPECT_EQ(r.report.find("kernel_clone"), std::string::npos) << r.report;
  // The children's sleeps are there. Only their kernel frames are asserted: a vfork child exits
  // right after its 20 ms sleep, and its user frames resolve only if aitrace read the child's
  // maps before that (under load it often does not, and they show as [unknown]); this test is
  // about the filters, ProcessThatExitedMidRunIsSymbolized about exited processes.
  EXPECT_GT(folded_weight(r.report, {"nanosleep"}), 0u) << r.report;
  std::istringstream lines(r.report);
  for (std::string line; std::getline(lines, line);)
    EXPECT_GE(std::stoull(line.substr(line.rfind(' ') + 1)), 15'000u) << line;  // each interval >= 15 ms
}

TEST(OffcpuE2E, ProcessThatExitedMidRunIsSymbolized) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // The child blocks 1.5 s and exits; the run goes on a second longer, and the report is read
  // after the child is gone (its maps and files with it). The child's stack must be resolved
  // while it lives, which reads its modules' symbol tables (4.4 ms natively here, `-v` prints
  // it): 1.5 s leaves room for that in the 10-30x slower VM guests too.
  OffcpuRun r = run_offcpu({"--folded"}, {"pipe-child", "1500"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  ASSERT_NE(r.cmd.out.find("child_exited"), std::string::npos) << r.cmd.out;
  ASSERT_GT(r.blocked_ns, 750'000'000) << r.cmd.out;
  const uint64_t us = folded_weight(r.report, {kChain, "pipe_read"});
  // 10% is issue 17's bound: the workload times its own system calls with steady_clock from
  // user space, so its figure includes the entry and exit around each block that the kernel's
  // switch-out to switch-in interval does not.
  EXPECT_NEAR(static_cast<double>(us) * 1000, static_cast<double>(r.blocked_ns), 0.1 * static_cast<double>(r.blocked_ns))
      << r.report;
}

TEST(OffcpuE2E, TinyStackStorageIsCountedAsLost) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  OffcpuRun r = run_offcpu({"--stack-storage", "1", "--json"}, {"pipe", "300"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  const json doc = json::parse(r.report);
  const uint64_t lost = doc["lost"]["stack_hash_collisions"].get<uint64_t>() + doc["lost"]["stack_map_full"].get<uint64_t>();
  EXPECT_GT(lost, 0u) << doc["lost"].dump();
  // The time of an interval whose stack was lost still counts, under a frame that says why.
  bool marked = false;
  for (const auto& st : doc["stacks"])
    marked = marked || has_frame(st["kernel_frames"], "[lost: ") || has_frame(st["user_frames"], "[lost: ");
  EXPECT_TRUE(marked) << doc["stacks"].dump();
}

TEST(OffcpuE2E, SvgFlameGraphHoldsTheChain) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string svg = temp_path("flame.svg");
  std::filesystem::remove(svg);
  OffcpuRun r = run_offcpu({"--svg", svg}, {"pipe", "300"});
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  const std::string doc = test::read_file(svg);
  std::filesystem::remove(svg);
  EXPECT_EQ(doc.rfind("<?xml", 0), 0u);
  EXPECT_NE(doc.find("<title>(anonymous namespace)::wait_here ("), std::string::npos);
  EXPECT_NE(doc.find("lost: stack hash collisions"), std::string::npos);
  EXPECT_NE(r.report.find("off-CPU time:"), std::string::npos) << r.report;  // the text report as well
}

TEST(OffcpuE2E, BadOptionsAreUsageErrors) {
  for (std::vector<std::string> bad : {std::vector<std::string>{"--state", "running"},
                                       {"--min", "5parsecs"},
                                       {"--min", "2ms", "--max", "1ms"},
                                       {"--folded", "--json"},
                                       {"--top", "0"},
                                       {"--stack-storage", "0"},
                                       {"--stack-storage", "16777217"}}) {
    std::vector<std::string> argv = {test::aitrace_binary(), "offcpu", "-d", "1"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    auto r = test::run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace aitrace
