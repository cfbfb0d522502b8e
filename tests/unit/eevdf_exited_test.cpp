// The EEVDF summary keeps an exited thread until `keep_exited` later exits, then adds it to
// `exited` and frees it: records of a folded thread decoded late (another CPU's ring) join
// `exited` too, and a reused tid starts a new thread. A thread's CPU time is the growth of the
// kernel's sum_exec_runtime between its records, whatever order the CPUs' rings are decoded in.
#include "aitrace/eevdf/sched_trace.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace aitrace {
namespace {

constexpr uint16_t kFlags = AITRACE_ST_F_EEVDF | AITRACE_ST_F_AVG;

aitrace_st_task worker(uint32_t tid, uint64_t start_time) {
  aitrace_st_task t{};
  t.pid = tid;
  t.tgid = 500;
  std::strncpy(t.comm, "worker", sizeof(t.comm));
  t.weight = 1024;
  t.start_time = start_time;
  return t;
}

// `prev` leaves the CPU to `next`; exit_state set: prev's last switch-out.
aitrace_st_switch switch_out(const aitrace_st_task& prev, const aitrace_st_task& next, bool exiting, uint64_t ran) {
  aitrace_st_switch r{};
  r.hdr = {AITRACE_ST_SWITCH, kFlags, 0, 1000};
  r.prev_wanted = r.next_wanted = 1;
  r.prev_state = exiting ? 0x80 : 1;  // TASK_DEAD or TASK_INTERRUPTIBLE
  r.prev_exit_state = exiting ? 16 : 0;  // EXIT_DEAD
  r.prev = prev;
  r.prev.sum_exec_runtime = ran;
  r.next = next;
  return r;
}

aitrace_st_wakeup wakeup(const aitrace_st_task& t) {
  aitrace_st_wakeup r{};
  r.hdr = {AITRACE_ST_WAKEUP, kFlags, 1, 900};
  r.wakee = t;
  return r;
}

TEST(EevdfExited, LastSwitchOutFreesTheThreadIntoExited) {
  EevdfSummary s(0);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_wakeup(wakeup(a));
  s.on_switch(switch_out(main, a, false, 0));
  s.on_switch(switch_out(a, main, false, 3000));
  ASSERT_NE(s.thread(11), nullptr);
  s.on_switch(switch_out(a, main, true, 5000));  // sum_exec_runtime only grows: 2000 more
  EXPECT_EQ(s.thread(11), nullptr);
  ASSERT_NE(s.thread(10), nullptr);  // the live one stays
  EXPECT_EQ(s.exited().threads, 1u);
  EXPECT_EQ(s.exited().switch_ins, 1u);
  EXPECT_EQ(s.exited().switch_outs, 2u);
  EXPECT_EQ(s.exited().wakeups, 1u);
  EXPECT_EQ(s.exited().runtime_ns, 5000u);
  auto j = s.json();
  EXPECT_EQ(j["exited"]["threads"], 1);
  EXPECT_EQ(j["exited"]["switch_outs"], 2);
  ASSERT_EQ(j["groups"].size(), 1u);
  EXPECT_EQ(j["groups"][0]["tid"], 10);
  EXPECT_NE(s.text().find("EEVDF exited threads folded together (1): switch-ins 1, switch-outs 2"), std::string::npos)
      << s.text();
}

TEST(EevdfExited, LateRecordOfADeadThreadJoinsExited) {
  EevdfSummary s(0);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_switch(switch_out(a, main, true, 0));
  s.on_wakeup(wakeup(a));  // decoded after the exit (another CPU's ring)
  EXPECT_EQ(s.thread(11), nullptr);
  EXPECT_EQ(s.exited().threads, 1u);
  EXPECT_EQ(s.exited().wakeups, 1u);
}

TEST(EevdfExited, ReusedTidIsANewThread) {
  EevdfSummary s(0);
  const auto old_a = worker(11, 100), new_a = worker(11, 900), main = worker(10, 50);
  s.on_switch(switch_out(old_a, main, true, 0));
  s.on_wakeup(wakeup(new_a));
  ASSERT_NE(s.thread(11), nullptr);
  EXPECT_EQ(s.thread(11)->wakeups, 1u);
  EXPECT_EQ(s.exited().wakeups, 0u);
  // A tid reused when its first thread's exit never arrived: the first one is counted as exited.
  const auto newer_a = worker(11, 1800);
  s.on_wakeup(wakeup(newer_a));
  EXPECT_EQ(s.exited().threads, 2u);
  EXPECT_EQ(s.exited().wakeups, 1u);
  EXPECT_EQ(s.thread(11)->wakeups, 1u);
}

TEST(EevdfExited, TheLastExitsAreKeptPerThread) {
  EevdfSummary s(1);
  const auto a = worker(11, 100), b = worker(12, 200), main = worker(10, 50);
  s.on_switch(switch_out(a, main, true, 1000));
  ASSERT_NE(s.thread(11), nullptr);  // a short run still reports each of its threads
  EXPECT_EQ(s.thread(11)->switch_outs, 1u);
  EXPECT_EQ(s.exited().threads, 0u);
  s.on_switch(switch_out(b, main, true, 2000));
  EXPECT_EQ(s.thread(11), nullptr);
  ASSERT_NE(s.thread(12), nullptr);
  EXPECT_EQ(s.exited().threads, 1u);
  EXPECT_EQ(s.exited().runtime_ns, 1000u);
}

// A record of a tid's older thread decoded after a newer thread took the tid (another CPU's
// ring) joins exited: the newer thread keeps its entry and its counts.
TEST(EevdfExited, ALateRecordOfAReusedTidsOlderThreadJoinsExited) {
  EevdfSummary s(0);
  const auto old_a = worker(11, 100), new_a = worker(11, 900);
  s.on_wakeup(wakeup(old_a));
  s.on_wakeup(wakeup(new_a));  // the tid is reused; the old thread's exit never arrived
  EXPECT_EQ(s.exited().threads, 1u);
  s.on_wakeup(wakeup(old_a));  // late
  ASSERT_NE(s.thread(11), nullptr);
  EXPECT_EQ(s.thread(11)->start_time, 900u);
  EXPECT_EQ(s.thread(11)->wakeups, 1u);
  EXPECT_EQ(s.exited().threads, 1u);
  EXPECT_EQ(s.exited().wakeups, 2u);
}

// A thread whose last switch-out record was lost is never retired by a record; once it is gone
// (the predicate stands for kill(tid, 0)), fold_gone() folds it. Exited threads kept for the
// report and threads still alive stay.
TEST(EevdfExited, AThreadWhoseExitWasLostIsFoldedOnceGone) {
  EevdfSummary s(4);
  const auto lost = worker(11, 100), alive = worker(12, 200), kept = worker(13, 300), main = worker(10, 50);
  s.on_switch(switch_out(lost, main, false, 1000));  // its exiting switch-out never arrives
  s.on_switch(switch_out(alive, main, false, 2000));
  s.on_switch(switch_out(kept, main, true, 3000));   // seen exiting: kept for the report
  s.fold_gone([](uint32_t tid) { return tid == 10 || tid == 12; });
  EXPECT_EQ(s.thread(11), nullptr);
  ASSERT_NE(s.thread(12), nullptr);
  ASSERT_NE(s.thread(13), nullptr);
  EXPECT_EQ(s.exited().threads, 1u);
  EXPECT_EQ(s.exited().runtime_ns, 1000u);
  // A record of it decoded later (another CPU's ring) joins exited, not a new entry.
  s.on_wakeup(wakeup(lost));
  EXPECT_EQ(s.thread(11), nullptr);
  EXPECT_EQ(s.exited().wakeups, 1u);
}

// A task can be preempted after exit_notify() set its exit_state (do_exit, CONFIG_PREEMPT): two
// switch-outs with exit_state; it is kept once, so the last `keep_exited` are distinct threads.
TEST(EevdfExited, ATaskSwitchedOutTwiceAfterExitIsKeptOnce) {
  EevdfSummary s(2);
  const auto a = worker(11, 100), b = worker(12, 200), main = worker(10, 50);
  s.on_switch(switch_out(a, main, true, 1000));
  s.on_switch(switch_out(a, main, true, 500));
  s.on_switch(switch_out(b, main, true, 2000));
  EXPECT_NE(s.thread(11), nullptr);  // two distinct exits kept: a and b
  EXPECT_NE(s.thread(12), nullptr);
  EXPECT_EQ(s.exited().threads, 0u);
}

// A long-lived thread preempted by a fork storm keeps at most kMaxPreemptors entries; the
// preemptions by the rest are counted, not tracked per pid.
TEST(EevdfExited, PreemptorsOfAThreadAreBounded) {
  EevdfSummary s;
  const auto main = worker(10, 50);
  for (uint32_t i = 0; i < kMaxPreemptors + 6; i++) {
    auto r = switch_out(main, worker(1000 + i, 100 + i), false, 0);
    r.prev_state = 0;  // still runnable: preempted
    r.preempt = 1;
    s.on_switch(r);
  }
  ASSERT_NE(s.thread(10), nullptr);
  EXPECT_EQ(s.thread(10)->preempted, kMaxPreemptors + 6);
  EXPECT_EQ(s.thread(10)->preemptors.size(), kMaxPreemptors);
  EXPECT_EQ(s.thread(10)->preemptions_untracked, 6u);
  EXPECT_EQ(s.thread_json(*s.thread(10))["preemptions_untracked"], 6);
}

// A thread's lag samples stay a list until there are more than kFew, then become a histogram;
// every view is the histogram the same samples make, before and after, and in exited.
TEST(LagSamples, AnyCountGivesTheHistogramOfItsSamples) {
  for (size_t n : {size_t{0}, size_t{1}, LagSamples::kFew, LagSamples::kFew + 1, size_t{500}}) {
    LagSamples few;
    SignedHistogram all;
    for (size_t i = 0; i < n; i++) {
      const int64_t v = (static_cast<int64_t>(i) * 7919 % 20000) - 9000;  // both signs, many buckets
      few.record(v);
      all.record(v);
    }
    const SignedHistogram h = few.histogram();
    EXPECT_EQ(few.count(), n);
    EXPECT_EQ(h.count(), all.count());
    EXPECT_EQ(h.sum(), all.sum());
    EXPECT_EQ(h.min(), all.min());
    EXPECT_EQ(h.max(), all.max());
    EXPECT_EQ(h.percentile(0.5), all.percentile(0.5));
    const auto a = h.nonzero_buckets(), b = all.nonzero_buckets();
    ASSERT_EQ(a.size(), b.size()) << n;
    for (size_t i = 0; i < a.size(); i++) EXPECT_TRUE(a[i].upper_bound == b[i].upper_bound && a[i].count == b[i].count);
    SignedHistogram merged;
    LagSamples copy = few;  // a copy (the summary's threads are copied into reports)
    copy.add_to(merged);
    EXPECT_EQ(merged.count(), all.count());
    EXPECT_EQ(merged.sum(), all.sum());
  }
}

// One switch record of `t` on `cpu`: it leaves the CPU with sum_exec_runtime `sum`, picked last
// at `pick`; `next` comes in with its own figure.
aitrace_st_switch ran(const aitrace_st_task& t, uint64_t pick, uint64_t sum, const aitrace_st_task& next,
                      uint64_t next_sum, uint32_t cpu) {
  aitrace_st_switch r = switch_out(t, next, false, sum);
  r.hdr.cpu = cpu;
  r.prev.prev_sum_exec_runtime = pick;
  r.next.sum_exec_runtime = next_sum;
  return r;
}

// The kernel picks a running task again without a switch (setaffinity, nice, a group move, and
// at exit under autogroup): prev_sum_exec_runtime then starts mid-run. The whole run counts.
TEST(EevdfRuntime, APickWithoutASwitchDoesNotCutTheRun) {
  EevdfSummary s(4);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_switch(ran(main, 0, 0, a, 1000, 0));     // a comes in at 1000
  s.on_switch(ran(a, 1700, 2500, main, 0, 0));  // re-picked at 1700, out at 2500
  EXPECT_EQ(s.thread(11)->runtime_ns, 1500u);   // since the pick: 800
}

// No record shows a switch-in (no program runs while a PID-1 thread is current on this VM): the
// runs on both sides of it still count, through the figures before and after.
TEST(EevdfRuntime, AnUnseenSwitchInLosesNothing) {
  EevdfSummary s(4);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_switch(ran(main, 0, 0, a, 1000, 0));
  s.on_switch(ran(a, 1000, 1400, main, 0, 0));
  // a ran again from 1400, came in unseen, was re-picked at 2000 and left at 2300
  s.on_switch(ran(a, 2000, 2300, main, 0, 0));
  EXPECT_EQ(s.thread(11)->runtime_ns, 1300u);
}

// Each CPU's ring is in order, but a drain can decode a later run on CPU 1 before an earlier one
// on CPU 0: the figures give the same total.
TEST(EevdfRuntime, RingsDecodedOutOfOrderGiveTheSameTotal) {
  EevdfSummary s(4);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_switch(ran(main, 0, 0, a, 600, 1));      // CPU 1: in at 600
  s.on_switch(ran(a, 600, 900, main, 0, 1));    //        out at 900
  s.on_switch(ran(main, 0, 0, a, 100, 0));      // CPU 0: in at 100 (earlier)
  s.on_switch(ran(a, 100, 600, main, 0, 0));    //        out at 600
  EXPECT_EQ(s.thread(11)->runtime_ns, 800u);
}

// A record of a folded thread decoded late adds only CPU time past what the thread had counted.
TEST(EevdfRuntime, ALateRecordAddsOnlyTimePastTheFold) {
  EevdfSummary s(0);
  const auto a = worker(11, 100), main = worker(10, 50);
  s.on_switch(ran(main, 0, 0, a, 0, 0));
  auto exit = ran(a, 700, 1000, main, 0, 0);
  exit.prev_exit_state = 16;
  s.on_switch(exit);  // folded: 1000 counted
  EXPECT_EQ(s.exited().runtime_ns, 1000u);
  s.on_switch(ran(a, 300, 700, main, 0, 1));  // an earlier run, decoded late from CPU 1
  EXPECT_EQ(s.exited().runtime_ns, 1000u);
  EXPECT_EQ(s.exited().switch_outs, 2u);
  s.on_switch(ran(a, 1000, 1200, main, 0, 1));  // past the fold (a figure no record had shown)
  EXPECT_EQ(s.exited().runtime_ns, 1200u);
}

}  // namespace
}  // namespace aitrace
