// `-- CMD`: held until start, exit status passed through, and the stop policy (SIGTERM, grace,
// SIGKILL) over CMD's whole process group, also when aitrace dies.
#include "aitrace/core/launcher.hpp"
#include "aitrace/core/run_loop.hpp"
#include "test_support.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

namespace aitrace {
namespace {

using namespace std::chrono_literals;

// These tests are about holding, starting and stopping; CMD keeps the test's privileges here.
// command_credentials_test and the e2e privilege tests cover the drop.
const CommandCredentials kInherit{.keep = true};

TEST(Launcher, HoldsTheCommandUntilStartAndReturnsItsExitCode) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-launch-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto marker = dir / "ran";
  auto lc = LaunchedCommand::prepare({"sh", "-c", "touch " + marker.string() + "; exit 7"}, kInherit);
  ASSERT_TRUE(lc.ok()) << lc.error().message;
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(std::filesystem::exists(marker)) << "command ran before start()";
  ASSERT_TRUE(lc->start().ok());
  RunLoop loop({.duration = 10s});
  loop.add_stop_fd(lc->pidfd());
  auto r = loop.run([](bool) { return Status{}; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::stop_fd);
  EXPECT_EQ(lc->wait(), 7);
  EXPECT_TRUE(std::filesystem::exists(marker));
  std::filesystem::remove_all(dir);
}

TEST(Launcher, MissingCommandIsAUsageError) {
  auto lc = LaunchedCommand::prepare({"/nonexistent/aitrace-no-such-cmd"}, kInherit);
  ASSERT_FALSE(lc.ok());
  EXPECT_EQ(lc.error().message, "command not found or not executable: /nonexistent/aitrace-no-such-cmd");
  auto none = LaunchedCommand::prepare({"aitrace-no-such-cmd-in-path"}, kInherit);
  ASSERT_FALSE(none.ok());
}

// An error that ends the run while CMD runs leaves CMD to the destructor: one that ignores
// SIGTERM must still be gone (SIGKILL after the grace period) rather than hang aitrace.
TEST(Launcher, DestroyingAStartedCommandStopsItEvenWhenItIgnoresSigterm) {
  pid_t pid = -1;
  auto started = std::chrono::steady_clock::now();
  {
    auto lc = LaunchedCommand::prepare({"sh", "-c", "trap '' TERM; exec sleep 30"}, kInherit);
    ASSERT_TRUE(lc.ok()) << lc.error().message;
    ASSERT_TRUE(lc->start().ok());
    pid = lc->pid();
    std::this_thread::sleep_for(200ms);  // past the trap: SIGTERM is ignored from here on
  }
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, LaunchedCommand::kTerminateGrace + 5s);
  EXPECT_GE(took, LaunchedCommand::kTerminateGrace) << "SIGKILL came before the grace period";
  EXPECT_EQ(kill(pid, 0), -1) << "the command is still there (or an unreaped zombie)";
}

// The pid a shell wrote to `file` once it appears (the grandchild of a launched `sh -c`).
pid_t read_pid_file(const std::filesystem::path& file) {
  for (int i = 0; i < 500; i++) {
    std::string text = std::filesystem::exists(file) ? test::read_file(file.string()) : "";
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

// Gone, or a zombie its new parent has not reaped yet: either way it no longer runs.
bool process_gone(pid_t pid) {
  for (int i = 0; i < 300; i++) {
    std::string stat = std::filesystem::exists("/proc/" + std::to_string(pid) + "/stat")
                           ? test::read_file("/proc/" + std::to_string(pid) + "/stat")
                           : "";
    auto close_paren = stat.rfind(')');
    if (stat.empty() || (close_paren != std::string::npos && stat.substr(close_paren + 2, 1) == "Z")) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

struct GrandchildCase {
  std::filesystem::path dir, pid_file;
  std::vector<std::string> argv;
  explicit GrandchildCase(const std::string& name)
      : dir(std::filesystem::temp_directory_path() / ("aitrace-" + name + "-" + std::to_string(getpid()))),
        pid_file(dir / "grandchild") {
    std::filesystem::create_directories(dir);
    // `sleep 40 &` is CMD's grandchild: the shell's child, not aitrace's.
    argv = {"sh", "-c", "sleep 40 & echo $! > " + pid_file.string() + "; sleep 41"};
  }
  ~GrandchildCase() { std::filesystem::remove_all(dir); }
};

// The stop policy covers CMD's whole tree: after -d or Ctrl-C (terminate + wait) no process CMD
// started is left running untraced.
TEST(Launcher, TerminateStopsTheCommandsGrandchildrenToo) {
  GrandchildCase c("grandchild");
  auto lc = LaunchedCommand::prepare(c.argv, kInherit);
  ASSERT_TRUE(lc.ok()) << lc.error().message;
  ASSERT_TRUE(lc->start().ok());
  pid_t grandchild = read_pid_file(c.pid_file);
  ASSERT_GT(grandchild, 0);
  lc->terminate();
  EXPECT_EQ(lc->wait(), 128 + SIGTERM);
  EXPECT_TRUE(process_gone(grandchild)) << "sleep 40 (pid " << grandchild << ") outlived the stop";
  if (!process_gone(grandchild)) kill(grandchild, SIGKILL);
}

// An error that destroys the command (no terminate() first) stops its tree as well.
TEST(Launcher, DestroyingTheCommandStopsItsGrandchildren) {
  GrandchildCase c("grandchild-dtor");
  pid_t grandchild = -1;
  {
    auto lc = LaunchedCommand::prepare(c.argv, kInherit);
    ASSERT_TRUE(lc.ok()) << lc.error().message;
    ASSERT_TRUE(lc->start().ok());
    grandchild = read_pid_file(c.pid_file);
    ASSERT_GT(grandchild, 0);
  }
  EXPECT_TRUE(process_gone(grandchild)) << "sleep 40 (pid " << grandchild << ") outlived the command";
  if (!process_gone(grandchild)) kill(grandchild, SIGKILL);
}

// When aitrace itself dies (SIGKILL, OOM) nothing of CMD's tree keeps running: the parent-death
// signal reaches only the direct child, so the grandchild shows whether the tree is covered.
TEST(Launcher, AitraceDyingStopsTheCommandsGrandchildren) {
  GrandchildCase c("grandchild-death");
  pid_t tracer = fork();
  ASSERT_GE(tracer, 0);
  if (tracer == 0) {  // stands in for aitrace: launches CMD, then is SIGKILLed below
    auto lc = LaunchedCommand::prepare(c.argv, kInherit);
    if (!lc.ok() || !lc->start().ok()) _exit(1);
    for (;;) pause();
  }
  pid_t grandchild = read_pid_file(c.pid_file);
  kill(tracer, SIGKILL);
  waitpid(tracer, nullptr, 0);
  ASSERT_GT(grandchild, 0);
  // Its own SIGTERM, or SIGKILL after the grace period: allow the grace plus slack.
  bool gone = false;
  for (int i = 0; i < 4 && !gone; i++) gone = process_gone(grandchild);
  EXPECT_TRUE(gone) << "sleep 40 (pid " << grandchild << ") outlived aitrace";
  if (!gone) kill(grandchild, SIGKILL);
}

// poll() in wait() returns EINTR when a signal with a handler arrives (e.g. SIGWINCH, SIGCHLD
// with a handler); wait() must keep the grace period and SIGKILL, not fall into a blocking
// waitpid on a command that ignores SIGTERM.
void ignore_signal(int) {}

TEST(Launcher, WaitKeepsTheGracePeriodWhenPollIsInterrupted) {
  struct sigaction sa{};
  sa.sa_handler = ignore_signal;  // no SA_RESTART (poll is never restarted anyway)
  struct sigaction old{};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  auto lc = LaunchedCommand::prepare({"sh", "-c", "trap '' TERM; exec sleep 30"}, kInherit);
  ASSERT_TRUE(lc.ok()) << lc.error().message;
  ASSERT_TRUE(lc->start().ok());
  std::this_thread::sleep_for(200ms);  // past the trap
  pthread_t waiter = pthread_self();
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    std::this_thread::sleep_for(300ms);
    if (!done) pthread_kill(waiter, SIGUSR1);
  });
  auto t0 = std::chrono::steady_clock::now();
  lc->terminate();
  int code = lc->wait();
  done = true;
  auto took = std::chrono::steady_clock::now() - t0;
  interrupter.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_LT(took, LaunchedCommand::kTerminateGrace + 5s) << "wait() blocked after an interrupted poll";
}

TEST(Launcher, UnstartedCommandNeverRuns) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-unstarted-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto marker = dir / "ran";
  {
    auto lc = LaunchedCommand::prepare({"sh", "-c", "touch " + marker.string()}, kInherit);
    ASSERT_TRUE(lc.ok());
  }  // destroyed without start(): e.g. attaching failed
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(std::filesystem::exists(marker));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aitrace
