#include "aitrace/core/launcher.hpp"
#include "aitrace/core/output_file.hpp"
#include "aitrace/core/run_loop.hpp"
#include "test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace aitrace {
namespace {

using namespace std::chrono_literals;

TEST(RunLoop, StopsAfterDurationWithIntervalTicksAndOneFinalTick) {
  block_stop_signals();
  RunLoop loop({.duration = 350ms, .interval = 100ms});
  int ticks = 0, finals = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run([&](bool final) {
    (final ? finals : ticks)++;
    return Status{};
  });
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::duration);
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(finals, 1);
  EXPECT_GE(took, 350ms);
}

TEST(RunLoop, SigtermStopsTheLoopCleanly) {
  block_stop_signals();
  RunLoop loop({.duration = 30s});
  std::thread killer([] {
    std::this_thread::sleep_for(100ms);
    kill(getpid(), SIGTERM);
  });
  int finals = 0;
  auto r = loop.run([&](bool final) {
    finals += final;
    return Status{};
  });
  killer.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, StopReason::signal);
  EXPECT_EQ(finals, 1);
}

TEST(RunLoop, TickErrorEndsTheLoopWithThatError) {
  RunLoop loop({.duration = 5s, .interval = 10ms});
  auto r = loop.run([](bool) -> Status { return make_error(ErrorKind::runtime, "sink broke"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "sink broke");
}

TEST(Launcher, HoldsTheCommandUntilStartAndReturnsItsExitCode) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-launch-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto marker = dir / "ran";
  auto lc = LaunchedCommand::prepare({"sh", "-c", "touch " + marker.string() + "; exit 7"});
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
  auto lc = LaunchedCommand::prepare({"/nonexistent/aitrace-no-such-cmd"});
  ASSERT_FALSE(lc.ok());
  EXPECT_EQ(lc.error().message, "command not found or not executable: /nonexistent/aitrace-no-such-cmd");
  auto none = LaunchedCommand::prepare({"aitrace-no-such-cmd-in-path"});
  ASSERT_FALSE(none.ok());
}

// An error that ends the run while CMD runs leaves CMD to the destructor: one that ignores
// SIGTERM must still be gone (SIGKILL after the grace period) rather than hang aitrace.
TEST(Launcher, DestroyingAStartedCommandStopsItEvenWhenItIgnoresSigterm) {
  pid_t pid = -1;
  auto started = std::chrono::steady_clock::now();
  {
    auto lc = LaunchedCommand::prepare({"sh", "-c", "trap '' TERM; exec sleep 30"});
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

TEST(Launcher, UnstartedCommandNeverRuns) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-unstarted-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto marker = dir / "ran";
  {
    auto lc = LaunchedCommand::prepare({"sh", "-c", "touch " + marker.string()});
    ASSERT_TRUE(lc.ok());
  }  // destroyed without start(): e.g. attaching failed
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(std::filesystem::exists(marker));
  std::filesystem::remove_all(dir);
}

TEST(OutputFile, WritesAtomicallyAndRemovesUncommittedTemporaries) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-out-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "report.json").string();
  {
    auto f = OutputFile::create(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("partial").ok());
    EXPECT_FALSE(std::filesystem::exists(path)) << "visible before commit";
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "temporary left behind";
  ASSERT_TRUE(write_file_atomically(path, "{}\n").ok());
  EXPECT_EQ(test::read_file(path), "{}\n");
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  std::filesystem::remove_all(dir);
}

TEST(OutputFile, RefusesSymlinksAndUnwritableDirectories) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-sym-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto link = dir / "link";
  std::filesystem::create_symlink("/etc/passwd", link);
  auto r = OutputFile::create(link.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
  auto missing = OutputFile::create("/nonexistent-dir/x.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "cannot write /nonexistent-dir/x.json: No such file or directory");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aitrace
