// The sched collector's per-task state machine (include/aitrace/sched_state.h), the code the BPF
// object runs, driven on the host through every transition: the kernel's part (clock, task
// state, sched_info stamps) is given as numbers.
#include "aitrace/sched_state.h"

#include <gtest/gtest.h>

#include <optional>
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

// run_delay: sched_info.run_delay now; last_run_delay: the state's, kept at the task's last
// switch-out (none: not kept); arrivals: pcount's growth since.
aitrace_sched_step switch_out(__u16 phase, __u64 ts, __u64 now, __u32 prev_state, bool preempt = false,
                              __u32 live_state = ~0u, __u64 arrived = 0, __u64 run_delay = 0,
                              std::optional<__u64> last_run_delay = std::nullopt, __u8 arrivals = 1) {
  aitrace_sched_switch_out in{};
  in.now = now;
  in.prev_state = prev_state;
  in.preempt = preempt;
  // What the BPF caller passes for an input it did not have to read: 0 (RUNNING) or a poison.
  in.live_state = aitrace_sched_out_needs_live_state(preempt, prev_state) ? live_state : 0;
  in.arrived = aitrace_sched_out_needs_arrival(phase) ? arrived : 0;
  in.run_delay = run_delay;
  in.last_run_delay = last_run_delay.value_or(0);
  in.kept_run_delay = last_run_delay.has_value();
  in.arrivals = arrivals;
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

TEST(SchedState, MissedSwitchInWithoutAUsableStampOrAKeptRunDelayIsLost) {
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

TEST(SchedState, SwitchOutOfASleeperSplitsItsUnseenWakeupByTheGrowthOfRunDelay) {
  for (__u16 phase : {AITRACE_SCHED_PHASE_SLEEP, AITRACE_SCHED_PHASE_BLOCK}) {
    const __u32 slept = phase == AITRACE_SCHED_PHASE_SLEEP ? AITRACE_SCHED_OFFCPU_SLEEP : AITRACE_SCHED_OFFCPU_BLOCK;
    // Asleep since 100 with run_delay 7000; woken and switched in unseen; last_arrival says
    // 300 and run_delay grew by 40: woken at 260.
    ASSERT_TRUE(aitrace_sched_out_needs_arrival(phase));
    auto s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, /*arrived=*/300, 7040, 7000);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{slept, 160}, {AITRACE_SCHED_RUNQ_WAKEUP, 40}, {AITRACE_SCHED_ONCPU, 200}}))
        << phase;
    EXPECT_EQ(s.unsampled_switch_in, 0);  // the wait's sample counts the switch-in
    EXPECT_EQ(s.missed, 0);
    EXPECT_EQ(s.repaired, 1);
    EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);
    EXPECT_EQ(s.ts, 500u);

    // No wait at all (run_delay unchanged): woken onto an idle CPU.
    s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, 300, 7000, 7000);
    EXPECT_EQ(samples(s), (std::vector<Sample>{{slept, 200}, {AITRACE_SCHED_RUNQ_WAKEUP, 0}, {AITRACE_SCHED_ONCPU, 200}}));
    EXPECT_EQ(s.missed, 0);
  }
}

TEST(SchedState, SwitchOutOfASleeperWhoseRunDelayDoesNotFitCountsItsSwitchInAndLosesTheWakeup) {
  for (__u16 phase : {AITRACE_SCHED_PHASE_SLEEP, AITRACE_SCHED_PHASE_BLOCK}) {
    // run_delay grew by more than the whole gap (201 > 300 - 100), or went backwards.
    for (__u64 run_delay : {__u64{7201}, __u64{6999}}) {
      auto s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, /*arrived=*/300, run_delay, 7000);
      EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_ONCPU, 200}})) << phase << " " << run_delay;
      EXPECT_EQ(s.unsampled_switch_in, 1);
      EXPECT_EQ(s.missed, 1);  // the sleep's end and the wait are unknown
      EXPECT_EQ(s.repaired, 0);
      EXPECT_EQ(s.phase, AITRACE_SCHED_PHASE_SLEEP);
      EXPECT_EQ(s.ts, 500u);
    }
    // A growth that fills the gap exactly is a sleep of 0 ns.
    auto s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, 300, 7200, 7000);
    EXPECT_EQ(s.repaired, 1);
    EXPECT_EQ(s.sample[0].ns, 0u);
    // Without a stamp of this sleep's switch-in, nothing is known but the loss.
    for (__u64 arrived : {__u64{0}, __u64{50}}) {
      s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, arrived, 7040, 7000);
      EXPECT_EQ(s.nsamples, 0) << arrived;
      EXPECT_EQ(s.unsampled_switch_in, 0);
      EXPECT_EQ(s.missed, 1);
    }
  }
}

TEST(SchedState, AMissedSwitchInWhoseStampPrecedesTheWaitIsMeasuredByRunDelay) {
  // Woken at 100 (run_delay 7000 at the sleep's switch-out); its switch-in went unseen and its
  // stamp converts to 92, before the wakeup: the rq clock it came from lagged. run_delay grew
  // by 30: the wait, so the switch-in was at 130.
  auto s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 100, 500, kInterruptible, false, kInterruptible, 92, 7030,
                      7000);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_WAKEUP, 30}, {AITRACE_SCHED_ONCPU, 370}}));
  EXPECT_EQ(s.repaired, 1);
  EXPECT_EQ(s.missed, 0);
  // Preempted at 100 with run_delay 7000, so the kept value is the wait's start.
  s = switch_out(AITRACE_SCHED_PHASE_QUEUED_PREEMPT, 100, 500, AITRACE_TASK_RUNNING, true, 0, 0, 7000, 7000);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_PREEMPT, 0}, {AITRACE_SCHED_ONCPU, 400}}));
  EXPECT_EQ(s.repaired, 1);
  // A usable stamp wins: run_delay is the fallback.
  s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 100, 500, kInterruptible, false, kInterruptible, 150, 7030, 7000);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_RUNQ_WAKEUP, 50}, {AITRACE_SCHED_ONCPU, 350}}));
  // Not kept, or a growth longer than the whole gap (401 > 500 - 100): lost.
  for (auto [run_delay, last] : {std::pair<__u64, std::optional<__u64>>{7030, std::nullopt}, {7401, 7000}}) {
    s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 100, 500, kInterruptible, false, kInterruptible, 92, run_delay,
                   last);
    EXPECT_EQ(s.nsamples, 0) << run_delay;
    EXPECT_EQ(s.missed, 1);
    EXPECT_EQ(s.repaired, 0);
  }
}

TEST(SchedState, RunDelaysGrowthCountsOnlyWhereTheKernelClosedExactlyOneWait) {
  // Woken at 100, switched in unseen, stamp unusable (92), run_delay unchanged.
  for (__u16 phase : {AITRACE_SCHED_PHASE_QUEUED_WAKEUP, AITRACE_SCHED_PHASE_QUEUED_PREEMPT}) {
    // No arrival counted: a task preempted while going to sleep was never stamped, and its wait
    // is in no counter (a growth of 0 would read as a 0 ns wait).
    auto s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, 92, 7000, 7000, /*arrivals=*/0);
    EXPECT_EQ(s.nsamples, 0) << phase;
    EXPECT_EQ(s.missed, 1);
    // Two: a switch-out no program saw ended a wait of its own in the gap.
    s = switch_out(phase, 100, 500, kInterruptible, false, kInterruptible, 92, 7030, 7000, /*arrivals=*/2);
    EXPECT_EQ(s.missed, 1);
  }
  // A gap that runs backwards (two run queues' clocks under --clock rq) holds no wait.
  auto s = switch_out(AITRACE_SCHED_PHASE_QUEUED_WAKEUP, 600, 500, kInterruptible, false, kInterruptible, 92, 7030,
                      7000);
  EXPECT_EQ(s.missed, 1);
  EXPECT_EQ(s.repaired, 0);
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

TEST(SchedState, ARepairedUnseenWakeupAccountsForEveryNanosecond) {
  // Sleeps at 200 with run_delay 30; woken (1300) and switched in (1400) unseen; switched out
  // again at 2000, asleep: 1100 asleep, 100 waiting and 600 on the CPU.
  auto first = switch_out(AITRACE_SCHED_PHASE_ONCPU, 0, 200, kInterruptible, false, kInterruptible, 0, 30);
  ASSERT_EQ(first.phase, AITRACE_SCHED_PHASE_SLEEP);
  auto s = switch_out(first.phase, first.ts, 2000, kInterruptible, false, kInterruptible, 1400, 130, 30);
  __u64 total = 0;
  for (const Sample& x : samples(s)) total += x.ns;
  EXPECT_EQ(total, 1800u);
  EXPECT_EQ(samples(s), (std::vector<Sample>{{AITRACE_SCHED_OFFCPU_SLEEP, 1100}, {AITRACE_SCHED_RUNQ_WAKEUP, 100},
                                             {AITRACE_SCHED_ONCPU, 600}}));
}

}  // namespace
