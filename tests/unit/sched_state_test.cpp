// The sched collector's per-task state machine (include/aitrace/sched_state.h), the code the BPF
// object runs, driven on the host through every transition: the kernel's part (clock, task
// state, sched_info stamps) is given as numbers.
#include "aitrace/sched_state.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace {

constexpr __u32 kInterruptible = 0x0001;  // TASK_INTERRUPTIBLE
constexpr __u32 kUninterruptible = AITRACE_TASK_UNINTERRUPTIBLE;
constexpr __u32 kIdle = AITRACE_TASK_UNINTERRUPTIBLE | AITRACE_TASK_NOLOAD;  // TASK_IDLE
constexpr __u32 kDead = AITRACE_TASK_DEAD;

struct Sample {
  __u32 metric;
  __u64 ns;
  bool operator==(const Sample&) const = default;
};

std::vector<Sample> samples(const aitrace_sched_step& s) {
  std::vector<Sample> out;
  out.reserve(s.nsamples);
  for (int i = 0; i < s.nsamples; i++) out.push_back({s.sample[i].metric, s.sample[i].ns});
  return out;
}

aitrace_sched_step switch_out(__u16 phase, __u64 ts, __u64 now, __u32 prev_state, bool preempt = false,
                              __u32 live_state = ~0u, __u64 arrived = 0) {
  aitrace_sched_switch_out in{};
  in.now = now;
  in.prev_state = prev_state;
  in.preempt = preempt;
  // What the BPF caller passes for an input it did not have to read: 0 (RUNNING) or a poison.
  in.live_state = aitrace_sched_out_needs_live_state(preempt, prev_state) ? live_state : 0;
  in.arrived = aitrace_sched_out_needs_arrival(phase) ? arrived : 0;
  return aitrace_sched_on_switch_out(phase, ts, &in);
}

aitrace_sched_step switch_in(__u16 phase, __u64 ts, __u64 now, __u64 queued = 0) {
  return aitrace_sched_on_switch_in(phase, ts, now, aitrace_sched_in_needs_queued_stamp(phase) ? queued : 0);
}

aitrace_sched_step wakeup(__u16 phase, __u64 ts, __u64 now, __u32 on_cpu = AITRACE_SCHED_ON_CPU_UNKNOWN) {
  if (!aitrace_sched_wakeup_needs_on_cpu(phase)) on_cpu = AITRACE_SCHED_ON_CPU_UNKNOWN;
  return aitrace_sched_on_wakeup(phase, ts, aitrace_sched_wakeup_starts_wait(phase, on_cpu) ? now : 0, on_cpu);
}

TEST(SchedState, WakeupEndsASleepOrABlockAndStartsARunQueueWait) {
  auto s = wakeup(AITRACE_SCHED_PHASE_SLEEP, 100, 350);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_OFFCPU_SLEEP, 250}}));
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_WAKEUP);
  EXPECT_EQ(s.ts, 350u);
  EXPECT_EQ(s.missed, 0);

  s = wakeup(AITRACE_SCHED_PHASE_BLOCK, 100, 170);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_OFFCPU_BLOCK, 70}}));
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_WAKEUP);
}

TEST(SchedState, FirstSightingAtAWakeupStartsAWaitWithoutASample) {
  for (__u32 on_cpu : {0u, static_cast<__u32>(AITRACE_SCHED_ON_CPU_UNKNOWN)}) {
    auto s = wakeup(AITRACE_SCHED_PHASE_UNKNOWN, 0, 500, on_cpu);
    EXPECT_EQ(s.nsamples, 0) << on_cpu;
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_WAKEUP);
    EXPECT_EQ(s.ts, 500u);
    EXPECT_EQ(s.missed, 0);
  }
}

TEST(SchedState, FirstSightingAtAWakeupOnACpuStartsNothing) {
  // Attached while the thread ran; a signal from another CPU woke it between its
  // set_current_state(TASK_INTERRUPTIBLE) and schedule(): sched_wakeup with on_cpu 1. Its
  // schedule() then switches it out RUNNING (still queued); last_arrival is from before attach.
  __u16 phase = AITRACE_SCHED_PHASE_UNKNOWN;
  __u64 ts = 0;
  EXPECT_TRUE(aitrace_sched_wakeup_needs_on_cpu(phase));
  EXPECT_FALSE(aitrace_sched_wakeup_starts_wait(phase, /*on_cpu=*/1));
  auto s = wakeup(phase, ts, 500, /*on_cpu=*/1);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_UNKNOWN);
  EXPECT_EQ(s.nsamples, 0);
  EXPECT_EQ(s.missed, 0);
  phase = s.phase;
  ts = s.ts;
  s = switch_out(phase, ts, 520, AITRACE_TASK_RUNNING, false, 0, /*arrived=*/100);
  EXPECT_EQ(s.missed, 0);
  EXPECT_EQ(s.repaired, 0);
  EXPECT_EQ(s.nsamples, 0);  // its on-CPU stretch began before attach: unknown
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_PREEMPT);
  s = switch_in(s.phase, s.ts, 600);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_PREEMPT, 80}}));
  EXPECT_EQ(s.missed, 0);
}

TEST(SchedState, WakeupOfAQueuedOrRunningTaskChangesNothingAndNeedsNoClock) {
  for (__u16 phase :
       {AITRACE_SCHED_PHASE_QUEUED_WAKEUP, AITRACE_SCHED_PHASE_QUEUED_PREEMPT, AITRACE_SCHED_PHASE_ONCPU}) {
    for (__u32 on_cpu : {1u, static_cast<__u32>(AITRACE_SCHED_ON_CPU_UNKNOWN)}) {
      if (phase != AITRACE_SCHED_PHASE_ONCPU && on_cpu == 1) continue;
      EXPECT_FALSE(aitrace_sched_wakeup_starts_wait(phase, on_cpu)) << phase;
      auto s = wakeup(phase, 100, 900, on_cpu);
      EXPECT_EQ(s.phase, phase);
      EXPECT_EQ(s.ts, 100u);
      EXPECT_EQ(s.nsamples, 0);
      EXPECT_EQ(s.missed, 0);
    }
  }
}

TEST(SchedState, WakeupOfATaskOnNoCpuRevealsAMissedSwitchOut) {
  // Seen switching in, now woken while on no CPU: it slept through a switch-out we never saw.
  EXPECT_TRUE(aitrace_sched_wakeup_needs_on_cpu(AITRACE_SCHED_PHASE_ONCPU));
  auto s = wakeup(AITRACE_SCHED_PHASE_ONCPU, 100, 900, /*on_cpu=*/0);
  EXPECT_EQ(s.missed, 1);
  EXPECT_EQ(s.nsamples, 0);  // its on-CPU and sleep times are unknown
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_WAKEUP);
  EXPECT_EQ(s.ts, 900u);
}

TEST(SchedState, SwitchInEndsTheRunQueueWaitOfItsKind) {
  auto s = switch_in(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 1000, 1040);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_WAKEUP, 40}}));
  EXPECT_EQ(s.unsampled_switch_in, 0);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_ONCPU);
  EXPECT_EQ(s.ts, 1040u);

  s = switch_in(AITRACE_SCHED_PHASE_QUEUED_PREEMPT, 1000, 1300);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_PREEMPT, 300}}));
  EXPECT_EQ(s.missed + s.repaired, 0);
}

TEST(SchedState, SwitchInOfAnUnknownTaskCountsTheSwitchWithoutAWait) {
  auto s = switch_in(AITRACE_SCHED_PHASE_UNKNOWN, 0, 1000);
  EXPECT_EQ(s.nsamples, 0);
  EXPECT_EQ(s.unsampled_switch_in, 1);
  EXPECT_EQ(s.missed, 0);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_ONCPU);
}

TEST(SchedState, SwitchInOfASleeperWhoseWakeupWasNotSeenIsRepairedFromLastQueued) {
  // Asleep since 100; the wakeup at 700 never reached us; last_queued says 700.
  for (auto [phase, metric] : {std::pair{AITRACE_SCHED_PHASE_SLEEP, AITRACE_SCHED_OFFCPU_SLEEP},
                               std::pair{AITRACE_SCHED_PHASE_BLOCK, AITRACE_SCHED_OFFCPU_BLOCK}}) {
    ASSERT_TRUE(aitrace_sched_in_needs_queued_stamp(phase));
    auto s = switch_in(phase, 100, 1000, /*queued=*/700);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{metric, 600}, {AITRACE_SCHED_RUNQ_WAKEUP, 300}})) << phase;
    EXPECT_EQ(s.repaired, 1);
    EXPECT_EQ(s.missed, 0);
    EXPECT_EQ(s.unsampled_switch_in, 0);
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_ONCPU);
    EXPECT_EQ(s.ts, 1000u);
  }
}

TEST(SchedState, MissedSwitchOutIsRepairedFromLastQueued) {
  // On a CPU since 100; the preempting switch at 400 never reached us; last_queued says 400.
  ASSERT_TRUE(aitrace_sched_in_needs_queued_stamp(AITRACE_SCHED_PHASE_ONCPU));
  auto s = switch_in(AITRACE_SCHED_PHASE_ONCPU, 100, 1000, /*queued=*/400);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_ONCPU, 300}, {AITRACE_SCHED_RUNQ_PREEMPT, 600}}));
  EXPECT_EQ(s.repaired, 1);
  EXPECT_EQ(s.missed, 0);
  EXPECT_EQ(s.unsampled_switch_in, 0);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_ONCPU);
  EXPECT_EQ(s.ts, 1000u);
}

TEST(SchedState, SwitchInWithoutAUsableStampIsMissed) {
  // A missed switch-out (on a CPU as far as we know) or a missed wakeup (asleep), with no stamp
  // or one older than the phase: an earlier switch's or enqueue's.
  for (__u16 phase : {AITRACE_SCHED_PHASE_ONCPU, AITRACE_SCHED_PHASE_SLEEP, AITRACE_SCHED_PHASE_BLOCK}) {
    for (__u64 queued : {__u64{0}, __u64{50}}) {
      auto s = switch_in(phase, 100, 1000, queued);
      EXPECT_EQ(s.missed, 1) << phase << " " << queued;
      EXPECT_EQ(s.repaired, 0);
      EXPECT_EQ(s.nsamples, 0);
      EXPECT_EQ(s.unsampled_switch_in, 1);
      EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_ONCPU);
      EXPECT_EQ(s.ts, 1000u);
    }
    // A stamp equal to the phase start is still this phase's.
    EXPECT_EQ(switch_in(phase, 100, 1000, 100).repaired, 1) << phase;
  }
}

TEST(SchedState, PreemptedOrYieldingTaskStaysQueuedAndIsInvoluntary) {
  for (bool preempt : {true, false}) {
    // preempt=true: whatever state it was setting; preempt=false: a RUNNING yield.
    __u32 state = preempt ? kInterruptible : AITRACE_TASK_RUNNING;
    EXPECT_FALSE(aitrace_sched_out_needs_live_state(preempt, state));
    auto s = switch_out(AITRACE_SCHED_PHASE_ONCPU, 100, 700, state, preempt);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_ONCPU, 600}}));
    EXPECT_EQ(s.involuntary, 1);
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_PREEMPT);
    EXPECT_EQ(s.ts, 700u);
  }
}

TEST(SchedState, SleepingStatesPickSleepOrBlock) {
  struct Case {
    __u32 state;
    __u16 phase;
  } cases[] = {
      {kInterruptible, AITRACE_SCHED_PHASE_SLEEP},
      {kUninterruptible, AITRACE_SCHED_PHASE_BLOCK},
      {kIdle, AITRACE_SCHED_PHASE_SLEEP},  // TASK_IDLE: D without load, "I" in ps
  };
  for (const Case& c : cases) {
    auto s = switch_out(AITRACE_SCHED_PHASE_ONCPU, 100, 200, c.state, false, /*live_state=*/c.state);
    EXPECT_EQ(s.phase, c.phase) << c.state;
    EXPECT_EQ(s.involuntary, 0);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_ONCPU, 100}}));
  }
}

TEST(SchedState, StalePrevStateOfASignalledTaskIsARunQueueWait) {
  // prev_state says D, but a pending signal made __schedule() keep it RUNNING and queued.
  ASSERT_TRUE(aitrace_sched_out_needs_live_state(false, kUninterruptible));
  auto s = switch_out(AITRACE_SCHED_PHASE_ONCPU, 100, 200, kUninterruptible, false, AITRACE_TASK_RUNNING);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_QUEUED_PREEMPT);
  EXPECT_EQ(s.involuntary, 0);  // the kernel still counts the switch as voluntary
  // Its next switch-in closes a run-queue wait, not a block.
  auto in = switch_in(s.phase, s.ts, 260);
  EXPECT_EQ(samples(in), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_PREEMPT, 60}}));
}

TEST(SchedState, MissedSwitchInIsRepairedFromLastArrival) {
  // Woken at 100; its switch-in at 130 never reached us; last_arrival says 130.
  ASSERT_TRUE(aitrace_sched_out_needs_arrival(AITRACE_SCHED_PHASE_QUEUED_WAKEUP));
  auto s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 100, 500, kInterruptible, false, kInterruptible, 130);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_WAKEUP, 30}, {AITRACE_SCHED_ONCPU, 370}}));
  EXPECT_EQ(s.repaired, 1);
  EXPECT_EQ(s.missed, 0);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);

  s = switch_out(AITRACE_SCHED_PHASE_QUEUED_PREEMPT, 100, 500, AITRACE_TASK_RUNNING, true, 0, 400);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_PREEMPT, 300}, {AITRACE_SCHED_ONCPU, 100}}));
  EXPECT_EQ(s.involuntary, 1);
}

TEST(SchedState, MissedSwitchInWithoutAUsableStampIsLost) {
  for (__u64 arrived : {__u64{0}, __u64{90}}) {
    auto s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 100, 500, kInterruptible, false, kInterruptible, arrived);
    EXPECT_EQ(s.missed, 1) << arrived;
    EXPECT_EQ(s.repaired, 0);
    EXPECT_EQ(s.nsamples, 0);  // neither the wait nor the on-CPU time is known
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);
    EXPECT_EQ(s.ts, 500u);
  }
}

TEST(SchedState, SwitchOutOfAnUnknownTaskClosesNothing) {
  EXPECT_FALSE(aitrace_sched_out_needs_arrival(AITRACE_SCHED_PHASE_UNKNOWN));
  auto s = switch_out(AITRACE_SCHED_PHASE_UNKNOWN, 100, 500, kInterruptible, false, kInterruptible);
  EXPECT_EQ(s.nsamples, 0);
  EXPECT_EQ(s.missed, 0);
  EXPECT_EQ(s.unsampled_switch_in, 0);
  EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);
}

TEST(SchedState, SwitchOutOfASleeperCountsItsUnseenSwitchInAndLosesTheWakeup) {
  for (__u16 phase : {AITRACE_SCHED_PHASE_SLEEP, AITRACE_SCHED_PHASE_BLOCK}) {
    // Asleep since 100, woken and switched in unseen; last_arrival says 300.
    ASSERT_TRUE(aitrace_sched_out_needs_arrival(phase));
    auto s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, /*arrived=*/300);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_ONCPU, 200}})) << phase;
    EXPECT_EQ(s.unsampled_switch_in, 1);
    EXPECT_EQ(s.missed, 1);  // the sleep's end and the wait are unknown
    EXPECT_EQ(s.repaired, 0);
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);
    EXPECT_EQ(s.ts, 500u);
    // Without a stamp of this sleep's switch-in, nothing is known but the loss.
    for (__u64 arrived : {__u64{0}, __u64{50}}) {
      s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, arrived);
      EXPECT_EQ(s.nsamples, 0) << arrived;
      EXPECT_EQ(s.unsampled_switch_in, 0);
      EXPECT_EQ(s.missed, 1);
    }
  }
}

TEST(SchedState, LastSwitchOutOfADyingTaskSaysSo) {
  EXPECT_EQ(switch_out(AITRACE_SCHED_PHASE_ONCPU, 100, 200, kDead, false, kDead).dead, 1);
  EXPECT_EQ(switch_out(AITRACE_SCHED_PHASE_ONCPU, 100, 200, kInterruptible, false, kInterruptible).dead, 0);
}

TEST(SchedState, ACycleAccountsForEveryNanosecond) {
  // wakeup 0 -> on CPU 10 -> preempted 50 -> on CPU 80 -> sleeps 200 -> woken 1200.
  __u16 phase = AITRACE_SCHED_PHASE_UNKNOWN;
  __u64 ts = 0, total = 0;
  auto apply = [&](const aitrace_sched_step& s) {
    for (const Sample& x : samples(s)) total += x.ns;
    EXPECT_EQ(s.missed, 0);
    phase = s.phase;
    ts = s.ts;
  };
  apply(wakeup(phase, ts, 0));
  apply(switch_in(phase, ts, 10));
  apply(switch_out(phase, ts, 50, AITRACE_TASK_RUNNING, true));
  apply(switch_in(phase, ts, 80));
  apply(switch_out(phase, ts, 200, kInterruptible, false, kInterruptible));
  apply(wakeup(phase, ts, 1200));
  EXPECT_EQ(total, 1200u);
  EXPECT_EQ(phase, AITRACE_SCHED_PHASE_QUEUED_WAKEUP);
}

}  // namespace
