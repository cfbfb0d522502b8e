// One classification of a switch-out, the kernel's nvcsw/nivcsw rule, used by the sched
// collector's BPF, the EEVDF trace's BPF and the EEVDF summary alike.
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/switch_class.h"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

struct SwitchCase {
  bool preempt;
  uint32_t prev_state;
  bool involuntary;  // what __schedule() counts: nivcsw
  const char* what;
};

// __schedule(): switch_count = &prev->nivcsw, and &prev->nvcsw only when !preempt && prev_state.
constexpr SwitchCase kCases[] = {
    {false, 0x0, true, "sched_yield / a running task rescheduled (TASK_RUNNING)"},
    {true, 0x0, true, "preempted while running"},
    {true, 0x1, true, "preempted while setting TASK_INTERRUPTIBLE (still queued)"},
    {false, 0x1, false, "blocked in S (also when a pending signal kept it queued)"},
    {false, 0x2, false, "blocked in D"},
    {false, 0x402, false, "TASK_IDLE kthread"},
    {false, 0x80, false, "exiting (TASK_DEAD)"},
};

TEST(SwitchClass, FollowsTheKernelsVoluntaryRule) {
  for (const SwitchCase& c : kCases)
    EXPECT_EQ(aitrace_switch_involuntary(c.preempt, c.prev_state) != 0, c.involuntary) << c.what;
}

TEST(SwitchClass, TheEevdfSummaryCountsExactlyTheInvoluntarySwitches) {
  EevdfSummary sum;
  uint64_t involuntary = 0;
  for (const SwitchCase& c : kCases) {
    aitrace_st_switch r{};
    r.prev_wanted = 1;
    r.prev.pid = r.prev.tgid = 42;
    r.next.pid = r.next.tgid = 43;
    r.preempt = c.preempt;
    r.prev_state = c.prev_state;
    sum.on_switch(r);
    involuntary += c.involuntary;
  }
  const EevdfThread* t = sum.thread(42);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->switch_outs, std::size(kCases));
  EXPECT_EQ(t->preempted, involuntary);
}

}  // namespace
}  // namespace aitrace
