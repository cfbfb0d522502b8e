// The slow-event log without a kernel: records in, the most recent N kept and the rest counted,
// interval views, and the text line and JSON object with their comms escaped.
#include "aitrace/sched/sched_collector.hpp"
#include "aitrace/sched/sched_slow_events.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace aitrace {
namespace {

aitrace_sched_slow_event record(uint32_t tid, uint64_t wait_ns, uint32_t metric, const char* comm = "worker",
                                const char* other = "hog") {
  aitrace_sched_slow_event r{};
  r.boot_ns = 1'000'000'000ull * tid;
  r.wait_ns = wait_ns;
  r.other_ran_ns = 4'000'000;
  r.pid = 100;
  r.tid = tid;
  r.cpu = 1;
  r.metric = metric;
  r.other_pid = 200;
  r.other_tid = 201;
  std::strncpy(r.comm, comm, sizeof(r.comm));
  std::strncpy(r.other_comm, other, sizeof(r.other_comm));
  r.holder_ns = 3'000'000;
  r.holder_pid = 300;
  r.holder_tid = 301;
  std::strncpy(r.holder_comm, "hog2", sizeof(r.holder_comm));
  r.holder_partial = 1;
  return r;
}

void feed(SlowEventLog& log, const aitrace_sched_slow_event& r) {
  log.on_record(std::as_bytes(std::span(&r, 1)));
}

TEST(SlowEventLog, KeepsTheMostRecentAndCountsTheRest) {
  std::vector<uint32_t> live;
  SlowEventLog log(5'000'000, 0, 3, [&](const SlowEvent& e) { live.push_back(e.tid); });
  for (uint32_t tid = 1; tid <= 5; tid++) feed(log, record(tid, 6'000'000, AITRACE_SCHED_RUNQ_PREEMPT));
  SlowEvents s = log.read();
  EXPECT_EQ(live, (std::vector<uint32_t>{1, 2, 3, 4, 5}));  // every event is shown as it comes
  EXPECT_EQ(s.total, 5u);
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events.front().tid, 3u);
  EXPECT_EQ(s.events.back().seq, 5u);
  EXPECT_EQ(s.not_kept(), 2u);
  // A record shorter than the ABI struct is not decoded.
  const char shorter[8] = {};
  log.on_record(std::as_bytes(std::span(shorter)));
  EXPECT_EQ(log.malformed(), 1u);
  EXPECT_EQ(log.read().total, 5u);
}

TEST(SlowEventLog, AnIntervalHasOnlyItsOwnEvents) {
  SlowEventLog log(1'000'000, 0, 10);
  feed(log, record(1, 2'000'000, AITRACE_SCHED_RUNQ_WAKEUP));
  SlowEvents first = log.read();
  feed(log, record(2, 3'000'000, AITRACE_SCHED_RUNQ_WAKEUP));
  feed(log, record(3, 4'000'000, AITRACE_SCHED_RUNQ_WAKEUP));
  SlowEvents second = slow_events_delta(log.read(), first);
  EXPECT_EQ(second.total, 2u);
  ASSERT_EQ(second.events.size(), 2u);
  EXPECT_EQ(second.events[0].tid, 2u);
  EXPECT_EQ(slow_events_delta(first, SlowEvents{}).total, 1u);
}

TEST(SlowEventLog, TimesLineUpWithTheRealTimeClock) {
  SlowEventLog log(1'000, 0, 10);
  timespec boot{}, real{};
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_REALTIME, &real);
  auto r = record(1, 5'000, AITRACE_SCHED_RUNQ_WAKEUP);
  r.boot_ns = static_cast<uint64_t>(boot.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(boot.tv_nsec);
  feed(log, r);
  const uint64_t want = static_cast<uint64_t>(real.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(real.tv_nsec);
  const uint64_t got = log.read().events.at(0).unix_ns;
  EXPECT_LT(got > want ? got - want : want - got, 10'000'000u);  // the two clock reads, 10 ms apart at most
}

TEST(SlowEventRender, TextLineAndJsonEscapeKernelStrings) {
  SlowEventLog log(5'000'000, 50'000'000, 10);
  feed(log, record(7, 12'345'678, AITRACE_SCHED_RUNQ_PREEMPT, "evil\x1b[31m", "hog"));
  auto block = record(8, 51'000'000, AITRACE_SCHED_OFFCPU_BLOCK, "loader", "");  // waker unknown
  block.holder_ns = 0;  // off-CPU kinds have no holder
  feed(log, block);
  SlowEvents s = log.read();
  const std::string line = slow_event_line(s.events[0]);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find("evil\\x1b[31m"), std::string::npos) << line;
  EXPECT_NE(line.find(" preempt "), std::string::npos) << line;
  EXPECT_NE(line.find(" 12345 "), std::string::npos) << line;  // microseconds
  EXPECT_NE(line.find(" 201 hog "), std::string::npos) << line;
  EXPECT_NE(line.find(" 301 hog2 "), std::string::npos) << line;
  EXPECT_NE(line.find(" 3000?\n"), std::string::npos) << line;  // partial: an earlier holder may be longer
  const std::string unknown = slow_event_line(s.events[1]);
  EXPECT_NE(unknown.find(" block "), std::string::npos) << unknown;
  EXPECT_NE(unknown.find(" - "), std::string::npos) << unknown;

  nlohmann::json doc;
  slow_events_json(doc, s);
  ASSERT_EQ(doc["slow_events"].size(), 2u);
  const auto& e = doc["slow_events"][0];
  EXPECT_EQ(e["kind"], "runq_preempt");
  EXPECT_EQ(e["wait_ns"], 12'345'678);
  EXPECT_EQ(e["prev_comm"], "hog");
  EXPECT_EQ(e["prev_tid"], 201);
  EXPECT_EQ(e["comm"], "evil\x1b[31m");  // JSON escapes control bytes itself
  EXPECT_EQ(e["holder_comm"], "hog2");
  EXPECT_EQ(e["holder_ns"], 3'000'000);
  EXPECT_EQ(e["holder_partial"], true);
  EXPECT_TRUE(doc["slow_events"][1]["prev_comm"].is_null());
  EXPECT_TRUE(doc["slow_events"][1]["holder_comm"].is_null());
  EXPECT_EQ(doc["slow_events"][1]["kind"], "offcpu_block");
  EXPECT_EQ(doc["slow_events_summary"]["offcpu_threshold_ns"], 50'000'000);

  nlohmann::json off;
  slow_events_json(off, SlowEvents{});
  EXPECT_FALSE(off.contains("slow_events"));  // without --slower the document has no such keys
  EXPECT_EQ(slow_events_text(SlowEvents{}, 0, true), "");
  EXPECT_NE(slow_events_text(s, 3, false).find("2, 3 lost (ring full)"), std::string::npos);
}

}  // namespace
}  // namespace aitrace
