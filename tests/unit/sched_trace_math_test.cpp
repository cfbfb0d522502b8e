// EEVDF lag and eligibility against hand-computed examples (kernel/sched/fair.c semantics).
#include "aitrace/eevdf/sched_trace_math.hpp"

#include <gtest/gtest.h>

namespace aitrace::eevdf {
namespace {

// zero_vruntime 1000; queued A (v 1000, w 1024) and B (v 1600, w 2048); running C (v 1300, w 1024).
//   sum_w_vruntime = 1024*0 + 2048*600 = 1228800, sum_weight = 3072
//   V = 1000 + (1228800 + 1024*300) / (3072 + 1024) = 1000 + 1536000/4096 = 1375
CfsState three_tasks() { return {1228800, 3072, 1000, true, 1300, 1024}; }

TEST(EevdfMath, AverageVruntimeIncludesTheRunningEntity) {
  EXPECT_EQ(avg_vruntime(three_tasks()), 1375u);
  CfsState not_running = three_tasks();
  not_running.curr_on_rq = false;  // curr dequeued: (1228800) / 3072 = 400
  EXPECT_EQ(avg_vruntime(not_running), 1400u);
}

TEST(EevdfMath, LagIsAverageMinusVruntime) {
  CfsState c = three_tasks();
  EXPECT_EQ(lag(c, 1000), 375);   // A is owed service
  EXPECT_EQ(lag(c, 1600), -225);  // B ran ahead
  EXPECT_EQ(lag(c, 1300), 75);    // C
  EXPECT_TRUE(eligible(c, 1000));
  EXPECT_FALSE(eligible(c, 1600));
  EXPECT_TRUE(eligible(c, 1300));
  EXPECT_TRUE(eligible(c, 1375));  // lag exactly 0 is eligible
  EXPECT_FALSE(eligible(c, 1376));
}

TEST(EevdfMath, WeightedLagSumsToZero) {
  // sum of w_i * lag_i = 0 when V divides exactly: 1024*375 + 2048*(-225) + 1024*75 = 0
  CfsState c = three_tasks();
  EXPECT_EQ(1024 * lag(c, 1000) + 2048 * lag(c, 1600) + 1024 * lag(c, 1300), 0);
}

TEST(EevdfMath, NegativeAverageRoundsDownLikeTheKernel) {
  // zero 1000; A (v 999, w 2) key -1, B (v 1000, w 1) key 0: sum -2, load 3.
  // Exact V = 999.67; the kernel floors to 999 (truncation would say 1000).
  CfsState c{-2, 3, 1000, false, 0, 0};
  EXPECT_EQ(avg_vruntime(c), 999u);
  EXPECT_EQ(lag(c, 1000), -1);
  EXPECT_FALSE(eligible(c, 1000));  // 999.67 < 1000
  EXPECT_EQ(lag(c, 999), 0);
  EXPECT_TRUE(eligible(c, 999));
}

TEST(EevdfMath, SleepingTaskCountsAsTheRunningEntity) {
  // The only task went to sleep: the queue is empty, V is its own vruntime, lag 0.
  CfsState empty{0, 0, 400, false, 0, 0};
  EXPECT_EQ(avg_vruntime(empty), 400u);
  EXPECT_EQ(lag(empty, 500, Entity{500, 1024}), 0);
  EXPECT_TRUE(eligible(empty, 500, Entity{500, 1024}));
  // Next to a queued task at 400 with equal weight: V = 450, so the sleeper had lag -50.
  CfsState one{0, 1024, 400, false, 0, 0};
  EXPECT_EQ(lag(one, 500, Entity{500, 1024}), -50);
  EXPECT_FALSE(eligible(one, 500, Entity{500, 1024}));
}

TEST(EevdfMath, VruntimesAcrossTheWrap) {
  // Keys are signed distances from zero_vruntime, so u64 wrap-around does not matter.
  uint64_t zero = UINT64_MAX - 100;
  CfsState c{int64_t{1024} * 200, 1024, zero, false, 0, 0};  // one task at zero + 200 (wrapped)
  EXPECT_EQ(avg_vruntime(c), zero + 200);
  EXPECT_EQ(lag(c, zero + 150), 50);
}

TEST(EevdfMath, NiceWeightsAreTheKernelTable) {
  EXPECT_EQ(nice_to_weight(0), 1024u);
  EXPECT_EQ(nice_to_weight(5), 335u);
  EXPECT_EQ(nice_to_weight(-20), 88761u);
  EXPECT_EQ(nice_to_weight(19), 15u);
  // Service owed: virtual lag scaled by w/1024.
  EXPECT_EQ(lag_service_ns(-225, 2048), -450);
  EXPECT_EQ(lag_service_ns(1000, 335), 327);
}

TEST(EevdfMath, FtracePrevState) {
  EXPECT_EQ(ftrace_prev_state(0, 0, false), 0);           // R
  EXPECT_EQ(ftrace_prev_state(0x1, 0, false), 0x1);       // S
  EXPECT_EQ(ftrace_prev_state(0x2, 0, false), 0x2);       // D
  EXPECT_EQ(ftrace_prev_state(0x1, 0, true), 0x100);      // R+ (preempted)
  EXPECT_EQ(ftrace_prev_state(0x402, 0, false), 0x80);    // TASK_IDLE: I
  EXPECT_EQ(ftrace_prev_state(0x80, 0x10, false), 0x10);  // TASK_DEAD + EXIT_DEAD: X
  EXPECT_EQ(ftrace_prev_state(0x80, 0x20, false), 0x20);  // EXIT_ZOMBIE: Z
}

// The kernel masks (__task_state_index in include/linux/sched.h): extra bits next to TASK_IDLE
// or TASK_RTLOCK_WAIT keep their meaning. Bit values of Linux 6.1+ (TASK_FREEZABLE and
// TASK_FROZEN came with the 6.1 freezer rewrite; older kernels never set those bits).
TEST(FtracePrevState, MatchesTheKernelsMaskingOfExtraStateBits) {
  constexpr uint32_t kInterruptible = 0x1, kUninterruptible = 0x2, kWakekill = 0x100, kNoload = 0x400;
  constexpr uint32_t kRtlockWait = 0x1000, kFreezable = 0x2000, kFrozen = 0x8000;
  constexpr uint32_t kIdle = kUninterruptible | kNoload;
  // A freezable idle kthread (kthread_freezable_should_stop loops, e.g. khugepaged): I, not D.
  EXPECT_EQ(ftrace_prev_state(kIdle | kFreezable, 0, false), 0x80);
  EXPECT_EQ(ftrace_prev_state(kIdle | kWakekill, 0, false), 0x80);
  // A frozen task (cgroup freezer, suspend) is reported as uninterruptible.
  EXPECT_EQ(ftrace_prev_state(kFrozen, 0, false), 0x2);
  EXPECT_EQ(ftrace_prev_state(kFrozen | kInterruptible, 0, false), 0x2);
  // An RT sleeping lock's wait, with the saved state's bits around it: D.
  EXPECT_EQ(ftrace_prev_state(kRtlockWait | kInterruptible, 0, false), 0x2);
  // Freezable but plainly sleeping: S (TASK_FREEZABLE alone is not reported).
  EXPECT_EQ(ftrace_prev_state(kInterruptible | kFreezable, 0, false), 0x1);
  // TASK_KILLABLE (WAKEKILL|UNINTERRUPTIBLE): D.
  EXPECT_EQ(ftrace_prev_state(kWakekill | kUninterruptible, 0, false), 0x2);
}

}  // namespace
}  // namespace aitrace::eevdf
