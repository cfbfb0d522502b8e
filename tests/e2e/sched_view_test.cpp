// `aitrace sched` as a user reads it (issue 13): the compact default view and its size on a
// whole host, --hist with --top on every section, runqlat's `INTERVAL [COUNT]`, -p runs that end
// when the targets exit, and a JSON report that CMD's own stdout cannot corrupt.
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aitrace {
namespace {

test::CommandResult aitrace_sched(std::vector<std::string> args) {
  args.insert(args.begin(), {test::aitrace_binary(), "sched"});
  return test::run_command(args, std::chrono::seconds(60));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) n++;
  return n;
}

// The budget: a whole-host run on this 2-CPU machine reads in one screen.
TEST(SchedView, WholeSystemTwoSecondsFitsInSixtyLines) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = aitrace_sched({"-d", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  EXPECT_LE(lines.size(), 60u) << r.out;
  ASSERT_GE(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0].rfind("aitrace sched: ", 0), 0u) << r.out;
  EXPECT_EQ(lines[1].rfind("lost: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("runq after wakeup"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("|*"), std::string::npos) << "bars only with --hist";
  // A host has more than 10 processes that ran in 2 s: the rest are counted, not printed.
  EXPECT_NE(r.out.find("more groups not shown"), std::string::npos) << r.out;
}

// Power-of-two rows between a histogram's title line and the next title or group.
std::vector<std::vector<uint64_t>> bar_rows(const std::string& text) {
  std::vector<std::vector<uint64_t>> hists;
  bool in_hist = false;
  for (const auto& l : lines_of(text)) {
    if (l.rfind("  ", 0) == 0 && l.find(" (count ") != std::string::npos && l.rfind("    ", 0) != 0) {
      hists.emplace_back();
      in_hist = true;
      continue;
    }
    const size_t bar = l.find(" |");
    if (in_hist && l.rfind("    ", 0) == 0 && bar != std::string::npos) {
      const size_t start = l.find_last_of(' ', bar - 1) + 1;
      hists.back().push_back(std::strtoull(l.c_str() + start, nullptr, 10));
      continue;
    }
    in_hist = false;
  }
  return hists;
}

TEST(SchedView, HistWithTopOneLimitsEverySectionAndTrimsEmptyRows) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // A ping-pong pair and a hog: three threads (and sh) with samples in both sections.
  auto r = aitrace_sched({"--hist", "--top", "1", "--eevdf", "--", test::workload("sched_truth"), "pingpong_hog", "400"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\nthread "), 1u) << r.out;
  EXPECT_NE(r.out.find("more groups not shown"), std::string::npos) << r.out;
  EXPECT_EQ(count_of(r.out, "\nEEVDF ") - count_of(r.out, "\nEEVDF trace"), 1u) << r.out;
  EXPECT_NE(r.out.find("more EEVDF threads not shown"), std::string::npos) << r.out;
  // Before --top reached the EEVDF section this printed 533 lines. The bound leaves room for
  // wider histograms (more bucket rows) than this host's: the 6.12 guest under TCG printed 87.
  EXPECT_LT(lines_of(r.out).size(), 120u) << r.out;
  auto hists = bar_rows(r.out);
  ASSERT_FALSE(hists.empty()) << r.out;
  for (const auto& rows : hists) {
    ASSERT_FALSE(rows.empty()) << r.out;
    EXPECT_GT(rows.front(), 0u) << "leading empty rows are trimmed\n" << r.out;
    EXPECT_GT(rows.back(), 0u) << "trailing empty rows are trimmed\n" << r.out;
  }
}

TEST(SchedView, PositionalIntervalAndCountAsRunqlat) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = aitrace_sched({"0.3", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "--- interval "), 3u) << r.out;
  EXPECT_EQ(count_of(r.out, "aitrace sched: "), 1u) << "then the summary\n" << r.out;

  // INTERVAL COUNT before `--`; the command's own numbers after it stay the command's.
  auto j = aitrace_sched({"--json", "0.3", "2", "--", "sleep", "30"});
  EXPECT_EQ(j.exit_code, 143) << "sleep 30 outlived the two intervals: SIGTERM\n" << j.err;
  size_t intervals = 0, finals = 0;
  for (const auto& l : lines_of(j.out)) {
    auto d = nlohmann::json::parse(l, nullptr, false);
    ASSERT_TRUE(d.is_object()) << l;
    (d.value("interval", false) ? intervals : finals)++;
  }
  EXPECT_EQ(intervals, 2u) << j.out;
  EXPECT_EQ(finals, 1u) << j.out;
}

void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(SchedView, PositionalMistakesAreOneLine) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_one_line_error(aitrace_sched({"sleep", "1"}), "put -- before it");
  expect_one_line_error(aitrace_sched({"1", "sleep"}), "'sleep' is not an interval");
  expect_one_line_error(aitrace_sched({"1", "0"}), "invalid count '0'");
  expect_one_line_error(aitrace_sched({"1", "2.5"}), "invalid count '2.5'");
  expect_one_line_error(aitrace_sched({"-d", "1", "1", "3"}), "cannot be combined");
  expect_one_line_error(aitrace_sched({"0", "3"}), "invalid interval '0'");
}

// -p: the run ends by itself once the target is gone, with the report, which says so.
TEST(SchedView, PidRunEndsWhenTheTargetExits) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string base = "/tmp/aitrace_pid_exit_" + std::to_string(getpid());
  const std::string go = base + ".go", out = base + ".json", err = base + ".err";
  // The target naps for 300 ms only once aitrace is attached (a slow start-up could miss it).
  test::Background target({"/bin/sh", "-c",
                           "while [ ! -e '" + go + "' ]; do sleep 0.01; done; exec '" + test::workload("sched_truth") +
                               "' sleeper 300"});
  // No -d: without the exit watch this would run until the test's timeout kills it.
  test::Background tracer({"/bin/sh", "-c",
                           "exec timeout 60 '" + test::aitrace_binary() + "' sched -p " + std::to_string(target.pid()) +
                               " --json -o '" + out + "' 2> '" + err + "'"});
  const bool ready = test::wait_for_text(err, "aitrace: tracing");
  std::ofstream(go).put('1');
  const auto t0 = std::chrono::steady_clock::now();
  const int target_status = target.wait();
  const int status = tracer.wait();
  const auto after_exit = std::chrono::steady_clock::now() - t0;
  const std::string err_text = test::read_file(err);
  std::filesystem::remove(go);
  std::filesystem::remove(err);
  ASSERT_TRUE(ready) << err_text;
  EXPECT_EQ(target_status, 0);
  ASSERT_EQ(status, 0) << "124: still running 60 s later\n" << err_text;
  EXPECT_LT(after_exit, std::chrono::seconds(20));
  auto doc = nlohmann::json::parse(test::read_file(out), nullptr, false);
  std::filesystem::remove(out);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("targets_exited", false), true) << doc.dump().substr(0, 300);
  ASSERT_EQ(doc["groups"].size(), 1u);
  EXPECT_EQ(doc["groups"][0]["exited"], true);

  // Text: the report ends with the reason.
  test::Background sleeper({"sleep", "3"});
  auto text = aitrace_sched({"-p", std::to_string(sleeper.pid())});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("tracing ended: every process given with -p exited\n"), std::string::npos) << text.out;
}

TEST(SchedView, JsonOnStdoutKeepsTheCommandsStdoutApart) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = aitrace_sched({"--json", "--", "sh", "-c", "echo hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(doc.is_object()) << "stdout is one JSON document:\n" << r.out;
  EXPECT_NE(r.err.find("hello\n"), std::string::npos) << r.err;
  // A text report shares stdout with CMD, as `time CMD` and `perf stat CMD` do.
  auto t = aitrace_sched({"--", "sh", "-c", "echo hello"});
  EXPECT_EQ(t.out.rfind("hello\n", 0), 0u) << t.out;
}

}  // namespace
}  // namespace aitrace
