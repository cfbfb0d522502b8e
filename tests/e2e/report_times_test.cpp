// Time on every report, for every tracing command (found in the registry, as driver_test does):
// the JSON envelope's times against this test's own clock_gettime() before and after the run,
// the intervals one after another with the last one before the total, and the text headers'
// HH:MM:SS against the wall clock.
#include "command_reports.hpp"
#include "eevdf_ground_truth.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace aitrace {
namespace {

using nlohmann::json;

struct Clocks {
  int64_t unix_ns, boot_ns;
};

Clocks now() {
  timespec r{}, b{};
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_BOOTTIME, &b);
  return {r.tv_sec * 1'000'000'000LL + r.tv_nsec, b.tv_sec * 1'000'000'000LL + b.tv_nsec};
}

using test::tracing_commands;

// A -d/-i step's lateness on this loaded 2-CPU VM: the run loop's poll() wakes up late by up to
// tens of ms under load, and a tick that ran late shortens the next interval by as much.
constexpr int64_t kLateNs = 200'000'000;

class ReportTimes : public ::testing::TestWithParam<std::string> {};

// -d 2.5 -i 1: intervals 1 and 2 of about a second, interval 3 of the last half second, then the
// whole run; every document's span inside this test's own before/after readings on both clocks.
TEST_P(ReportTimes, JsonTimesAreSaneAndTheLastIntervalComesBeforeTheTotal) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const Clocks before = now();
  auto r = test::run_command({test::aitrace_binary(), GetParam(), "--json", "-i", "1", "-d", "2.5"});
  const Clocks after = now();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = test::report_documents(r.out);
  ASSERT_EQ(docs.size(), 4u) << r.out.substr(0, 600);
  const json& total = docs.back();
  for (size_t i = 0; i < docs.size(); i++) {
    const json& d = docs[i];
    const bool is_total = i + 1 == docs.size();
    SCOPED_TRACE(d.dump().substr(0, 300));
    EXPECT_EQ(d["interval"], !is_total);
    EXPECT_EQ(d["interval_index"].get<uint64_t>(), is_total ? 0 : i + 1);
    const auto su = d["start_unix_ns"].get<int64_t>(), eu = d["end_unix_ns"].get<int64_t>();
    const auto sb = d["start_boot_ns"].get<int64_t>(), eb = d["end_boot_ns"].get<int64_t>();
    EXPECT_LE(before.unix_ns, su);
    EXPECT_LE(su, eu);
    EXPECT_LE(eu, after.unix_ns);
    EXPECT_LE(before.boot_ns, sb);
    EXPECT_LE(sb, eb);
    EXPECT_LE(eb, after.boot_ns);
    EXPECT_EQ(d["duration_ns"].get<int64_t>(), eb - sb) << "duration_ns is the boot clock's span";
    // Both clocks run at the same rate; the two readings of one moment are back to back, apart
    // by a preemption at most (1 ms here). A stepped wall clock (NTP) would break this.
    EXPECT_NEAR(static_cast<double>(eu - su), static_cast<double>(eb - sb), 1e6);
    if (!is_total && i > 0) {
      EXPECT_EQ(su, docs[i - 1]["end_unix_ns"].get<int64_t>()) << "intervals follow each other";
      EXPECT_EQ(sb, docs[i - 1]["end_boot_ns"].get<int64_t>());
    }
  }
  EXPECT_EQ(docs[0]["start_boot_ns"], total["start_boot_ns"]) << "the first interval starts at attach";
  EXPECT_EQ(docs[2]["end_boot_ns"], total["end_boot_ns"]) << "the last interval ends where the total does";
  // The ticks come at 1 s and 2 s of the run loop, which starts after attach (so interval 1 is
  // longer by the time attach and start-up took), and -d ends the loop 0.5 s after the second.
  const auto d1 = docs[0]["duration_ns"].get<int64_t>(), d2 = docs[1]["duration_ns"].get<int64_t>(),
             d3 = docs[2]["duration_ns"].get<int64_t>();
  EXPECT_GE(d1, 1'000'000'000);
  EXPECT_NEAR(static_cast<double>(d2), 1e9, kLateNs);
  EXPECT_NEAR(static_cast<double>(d3), 0.5e9, kLateNs) << "the last interval says its real duration";
  EXPECT_GE(total["duration_ns"].get<int64_t>(), 2'500'000'000);
}


int64_t local_seconds(const std::string& date, const std::string& hms) {
  tm t{};
  std::istringstream in(date + " " + hms);
  in >> std::get_time(&t, "%Y-%m-%d %H:%M:%S");
  t.tm_isdst = -1;
  return static_cast<int64_t>(mktime(&t));
}

// `-i 1 -d 3` prints intervals 1, 2 and 3, each header with its wall-clock span (the date in the
// first), then the whole run's report with the date and span.
TEST_P(ReportTimes, TextHeadersCarryTheWallClockAndTheLastIntervalIsShown) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const int64_t before_s = now().unix_ns / 1'000'000'000;
  auto r = test::run_command({test::aitrace_binary(), GetParam(), "-i", "1", "-d", "3"});
  const int64_t after_s = now().unix_ns / 1'000'000'000;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::regex header(
      R"(--- interval (\d+): (?:(\d{4}-\d\d-\d\d) )?(\d\d:\d\d:\d\d)\.\.(\d\d:\d\d:\d\d)(?: [+-]\d{4})? \(([^)]+)\) ---)");
  std::vector<std::smatch> found;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), header); it != std::sregex_iterator(); ++it)
    found.push_back(*it);
  ASSERT_EQ(found.size(), 3u) << r.out.substr(0, 800);
  ASSERT_TRUE(found[0][2].matched) << "the first header has the date: " << found[0].str();
  const std::string date = found[0][2];
  std::string previous_end;
  for (size_t i = 0; i < found.size(); i++) {
    SCOPED_TRACE(found[i].str());
    EXPECT_EQ(found[i][1], std::to_string(i + 1));
    if (i > 0) {
      EXPECT_FALSE(found[i][2].matched) << "the date once, unless the day changes";
      EXPECT_EQ(found[i][3], previous_end) << "interval " << i + 1 << " starts where the one before ended";
    }
    // Within a second of this test's own clock (HH:MM:SS is cut to the second).
    const int64_t start = local_seconds(date, found[i][3]), end = local_seconds(date, found[i][4]);
    EXPECT_LE(before_s, start);
    EXPECT_LE(start, end);
    EXPECT_LE(end, after_s);
    previous_end = found[i][4];
  }
  // The hidden sched-trace (the EEVDF trace alone, for debugging) ends with its statistics only.
  if (GetParam() == "sched-trace") return;
  const std::string total = r.out.substr(static_cast<size_t>(found[2].position(0) + found[2].length()));
  const std::regex span(R"((\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.\.(\d\d:\d\d:\d\d) [+-]\d{4})");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(total, m, span)) << "the whole run's header has its span:\n" << total.substr(0, 300);
  EXPECT_EQ(m[1], date);
  EXPECT_EQ(m[2], found[0][3].str()) << "the whole run starts where interval 1 does";
  EXPECT_EQ(m[3], found[2][4].str()) << "and ends where interval 3 does";
}

// The boot times are the Perfetto trace's clock (bpf_ktime_get_boot_ns()): every event of the
// --trace file lies inside the whole run's start_boot_ns..end_boot_ns (the window opens before the
// first attach and closes after detach, so nothing traced can fall outside it).
TEST(ReportTimesPerfetto, BootTimesFrameTheTraceEvents) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string trace =
      (std::filesystem::temp_directory_path() / ("aitrace_times_" + std::to_string(getpid()) + ".pftrace")).string();
  std::filesystem::remove(trace);
  auto r = test::run_command({test::aitrace_binary(), "sched", "--json", "--trace", trace, "-d", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = test::report_documents(r.out);
  ASSERT_EQ(docs.size(), 1u) << r.out.substr(0, 400);
  const auto start = docs[0]["start_boot_ns"].get<uint64_t>(), end = docs[0]["end_boot_ns"].get<uint64_t>();
  perfetto::protos::Trace t;
  ASSERT_TRUE(test::parse_trace_file(trace, &t));
  std::filesystem::remove(trace);
  uint64_t events = 0, first = UINT64_MAX, last = 0;
  for (const auto& p : t.packet())
    for (const auto& e : p.ftrace_events().event()) {
      events++;
      first = std::min<uint64_t>(first, e.timestamp());
      last = std::max<uint64_t>(last, e.timestamp());
    }
  ASSERT_GT(events, 100u) << "a whole-system second has scheduler events";
  EXPECT_LE(start, first) << "an event before the window's start";
  EXPECT_LE(last, end) << "an event after the window's end";
  // And the clocks are the same, not merely ordered: the events fill the window (a system-wide
  // second on this VM has switches every few ms; 200 ms covers a start-up stall under load). A
  // wall-clock value would miss by decades; CLOCK_MONOTONIC only by the time this host was
  // suspended, which on a VM that never was is nothing, so that mix-up is not caught here.
  EXPECT_LT(first - start, 200'000'000u);
  EXPECT_LT(end - last, 200'000'000u);
}

INSTANTIATE_TEST_SUITE_P(EveryTracingCommand, ReportTimes, ::testing::ValuesIn(tracing_commands()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace aitrace
