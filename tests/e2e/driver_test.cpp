// The command driver's flow, the same for every subcommand: output errors, standard fds, signals
// before and during the run, and the readiness line. Each case failed before the driver had it.
#include "command_reports.hpp"
#include "test_support.hpp"

#include "aitrace/driver/registration.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("aitrace_driver_" + std::to_string(getpid()) + "_" + name)).string();
}

test::CommandResult shell(const std::string& script) { return test::run_command({"/bin/sh", "-c", script}); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

using test::tracing_commands;

class Driver : public ::testing::TestWithParam<std::string> {};

// A full disk under stdout: the report is lost, so the exit status must say so.
TEST_P(Driver, AReportThatCannotBeWrittenToStdoutIsAnError) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = shell(quoted(test::aitrace_binary()) + " " + GetParam() + " -d 200ms > /dev/full");
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("writing the report to stdout failed: No space left on device"), std::string::npos) << r.err;
}

// Started with stdout closed, the -o temporary must not become fd 1 and collect the interval text.
TEST_P(Driver, StartedWithStdoutClosedTheOutputFileHoldsOnlyTheReport) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string out = temp_path(std::string(GetParam()) + "_closed_stdout.json");
  auto r = shell(quoted(test::aitrace_binary()) + " " + GetParam() + " --json -i 100ms -d 450ms -o " + out + " >&-");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string text = test::read_file(out);
  fs::remove(out);
  auto doc = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "not one JSON document:\n" << text.substr(0, 400);
  EXPECT_FALSE(doc.value("interval", false)) << "an interval report landed in the -o file";
}

// SIGHUP (a closed terminal, a lost ssh session) stops the run like SIGTERM: the report is written.
TEST_P(Driver, SighupEndsTheRunWithTheReport) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string out = temp_path(std::string(GetParam()) + "_hup.json"), err = temp_path("hup.err");
  auto r = shell(quoted(test::aitrace_binary()) + " " + GetParam() + " --json -o " + out + " 2>" + err +
                 " & p=$!; until grep -q 'aitrace: tracing' " + err +
                 "; do sleep 0.05; done; kill -HUP $p; wait $p; echo exit=$?");
  const std::string text = test::read_file(out);
  fs::remove(out);
  fs::remove(err);
  EXPECT_NE(r.out.find("exit=0"), std::string::npos) << r.out << r.err;
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text.substr(0, 400);
}

// A Ctrl-C that arrives while the programs load never starts CMD. The signal is made pending
// before exec (blocked, then raised: pending signals survive exec), so it is there during load.
TEST_P(Driver, ASigintBeforeAttachNeverStartsTheCommand) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string marker = temp_path(std::string(GetParam()) + "_started");
  fs::remove(marker);
  auto r = test::run_command({"perl", "-MPOSIX", "-e",
                              "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGINT)); kill 'INT', $$; exec @ARGV or die",
                              test::aitrace_binary(), GetParam(), "--", "touch", marker});
  EXPECT_FALSE(fs::exists(marker)) << "CMD ran although SIGINT came before tracing started";
  fs::remove(marker);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("interrupted before tracing started; the command was not run"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("aitrace: tracing"), std::string::npos) << r.err;
}

// Every subcommand prints the same readiness line once attached, and passes CMD's status through.
TEST_P(Driver, PrintsTheReadinessLineAndPassesTheExitStatusThrough) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), GetParam(), "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("aitrace: tracing "), std::string::npos) << r.err;
}

// A reader that goes away (`| head -c1`) ends stdout only: the -o report is still written.
TEST_P(Driver, ABrokenStdoutEndsOnlyThatOutput) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string out = temp_path(std::string(GetParam()) + "_pipe.json");
  auto r = shell("(" + quoted(test::aitrace_binary()) + " " + GetParam() + " --json -i 50ms -d 600ms -o " + out +
                 "; echo exit=$? >&2) | head -c1 >/dev/null");
  const std::string text = test::read_file(out);
  fs::remove(out);
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << "final report lost: " << r.err;
  EXPECT_NE(r.err.find("the reader closed the pipe"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exit=1"), std::string::npos) << "the lost interval reports must show in the status: " << r.err;
}

// -d ends the run before CMD: CMD's whole tree stops, not just its direct child.
TEST_P(Driver, DurationStopsTheWholeCommandTree) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string tag = std::to_string(4000 + getpid() % 1000);  // a sleep length no one else uses
  auto r = test::run_command({test::aitrace_binary(), GetParam(), "-d", "300ms", "--", "sh", "-c",
                              "sleep " + tag + "1 & sleep " + tag + "2"});
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  auto left = shell("pgrep -f 'sleep " + tag + "[12]' || true");
  EXPECT_EQ(left.out, "") << "workers of CMD still running after -d";
}

INSTANTIATE_TEST_SUITE_P(EveryTracingCommand, Driver, ::testing::ValuesIn(tracing_commands()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The list above is not empty by accident: every collector with hooks has a driven command.
TEST(DriverCommands, EveryCollectorWithHooksHasATracingCommand) {
  size_t with_hooks = 0;
  for (const auto& c : registered_collectors()) with_hooks += c.tracepoints != nullptr;
  const auto names = tracing_commands();
  EXPECT_GE(names.size(), with_hooks);
  EXPECT_NE(std::find(names.begin(), names.end(), "sched"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "doctor"), names.end()) << "doctor has no driver run";
}

TEST(DriverOutputs, TheReportAndTheTraceCannotBeTheSameFile) {
  const std::string f = temp_path("same.out");
  auto r = test::run_command({test::aitrace_binary(), "sched", "-d", "1", "-o", f, "--trace", f});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("are the same file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f));
}

}  // namespace
}  // namespace aitrace
