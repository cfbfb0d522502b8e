// The EEVDF trace through the binary: finalized on SIGINT, a readable prefix after SIGKILL,
// one-line errors for bad options.
#include "eevdf_ground_truth.hpp"
#include "test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string temp_dir() {
  auto d = fs::temp_directory_path() / ("aitrace_st_e2e_" + std::to_string(getpid()));
  fs::create_directories(d);
  return d.string();
}

std::vector<fs::path> partial_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".partial-") != std::string::npos) out.push_back(e.path());
  return out;
}

TEST(SchedTraceCli, SigintFinalizesTheTrace) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::string dir = temp_dir(), trace = dir + "/int.perfetto-trace";
  pid_t pid = test::spawn_background({test::aitrace_binary(), "sched-trace", "--trace", trace, "--", test::workload("eevdf_threads"),
                     "sleepy", dir + "/int.txt", "20000"}, dir + "/int.err");
  ASSERT_GT(pid, 0);
  // From the readiness line (every hook attached): start-up takes 0.1 s here, seconds in a TCG
  // guest beside a busy host, where a fixed 1.5 s from the start saw 39 switches.
  ASSERT_TRUE(test::wait_for_text(dir + "/int.err", "aitrace: tracing")) << test::read_file(dir + "/int.err");
  std::this_thread::sleep_for(1500ms);
  kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << "CMD's status: Ctrl-C stops it with SIGTERM";
  ASSERT_TRUE(fs::exists(trace));
  EXPECT_TRUE(partial_files(dir).empty());
  perfetto::protos::Trace t;
  ASSERT_TRUE(test::parse_trace_file(trace, &t));
  auto c = test::count_trace(t);
  EXPECT_GT(c.switches, 100u);
  EXPECT_TRUE(c.per_cpu_ordered);
  fs::remove_all(dir);
}

TEST(SchedTraceCli, KilledTracerLeavesAReadablePrefix) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::string dir = temp_dir(), trace = dir + "/kill.perfetto-trace";
  pid_t pid = test::spawn_background({test::aitrace_binary(), "sched-trace", "--trace", trace, "--", test::workload("eevdf_threads"),
                     "sleepy", dir + "/kill.txt", "20000"}, dir + "/kill.err");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(test::wait_for_text(dir + "/kill.err", "aitrace: tracing")) << test::read_file(dir + "/kill.err");
  std::this_thread::sleep_for(2500ms);  // the trace is flushed to disk at least once a second
  // The launched workload would outlive its killed tracer: end it too.
  std::string children = test::read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream child_list(children);  // "PID " per child
  if (pid_t child = 0; child_list >> child && child > 0) kill(child, SIGKILL);
  EXPECT_FALSE(fs::exists(trace));
  auto partial = partial_files(dir);
  ASSERT_EQ(partial.size(), 1u);
  perfetto::protos::Trace t;
  size_t torn = 0;
  ASSERT_TRUE(test::parse_trace_prefix(partial[0].string(), &t, &torn)) << "a flushed prefix must decode";
  // `torn` (the one packet a kill cut short, if any) is left out as Perfetto's reader leaves it.
  EXPECT_GT(test::count_trace(t).switches, 100u);
  fs::remove_all(dir);
}

TEST(SchedTraceCli, BadBufferSizeIsOneLine) {
  auto r = test::run_command({test::aitrace_binary(), "sched-trace", "--trace-buffer", "3M", "-d", "1", "-p", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "aitrace: invalid --trace-buffer '3M': expected a power of two like 4M or 256K (at most 1G)\n");
}

TEST(SchedTraceCli, ExitsWithTheCommandsStatus) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "sched-trace", "--json", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("\"eevdf\""), std::string::npos) << r.out.substr(0, 300);
}

}  // namespace
}  // namespace aitrace
