// EEVDF arithmetic on raw fields recorded by bpf/sched_trace.bpf.c, done the way the kernel
// does it (kernel/sched/fair.c: avg_vruntime(), vruntime_eligible(), scale_load_down), so the
// lag and eligibility aitrace reports are the ones the scheduler decided with.
#pragma once

#include <cstdint>
#include <optional>

namespace aitrace::eevdf {

// A cfs_rq as recorded: sums over the queued entities that are not running, plus the running one.
struct CfsState {
  int64_t sum_w_vruntime = 0;  // sum of w_i * (v_i - zero_vruntime)
  uint64_t sum_weight = 0;     // sum of w_i (scaled-down weights: 1024 = nice 0)
  uint64_t zero_vruntime = 0;  // key origin (min_vruntime before 6.17)
  bool curr_on_rq = false;     // the running entity counts in V only while on_rq
  uint64_t curr_vruntime = 0;
  uint32_t curr_weight = 0;
};

struct Entity {
  uint64_t vruntime = 0;
  uint32_t weight = 0;
};

// V, the load-weighted average vruntime of the cfs_rq (kernel avg_vruntime()), rounded toward
// minus infinity like the kernel. `extra` adds one entity that the recorded sums lack: the task
// that just went to sleep was the running entity when the kernel decided, so it counts.
uint64_t avg_vruntime(const CfsState& c, std::optional<Entity> extra = std::nullopt);

// lag_i = V - v_i, in virtual ns (positive: the task is owed service).
int64_t lag(const CfsState& c, uint64_t vruntime, std::optional<Entity> extra = std::nullopt);

// vruntime_eligible(): V >= v_i compared without division (exact, unlike lag() >= 0 on a
// rounded V only at the margin; both agree because V is floored and v_i is an integer).
bool eligible(const CfsState& c, uint64_t vruntime, std::optional<Entity> extra = std::nullopt);

// Virtual lag converted to the wall-clock service a task is owed: vlag * w / 1024.
int64_t lag_service_ns(int64_t vlag, uint32_t weight);

// The kernel's nice-to-weight table (sched_prio_to_weight), nice in [-20, 19].
uint32_t nice_to_weight(int nice);

// The prev_state value ftrace's sched_switch reports (and Perfetto expects): one TASK_REPORT bit,
// 0 for runnable, TASK_REPORT_MAX (0x100) when preempted.
int64_t ftrace_prev_state(uint32_t prev_state, int32_t exit_state, bool preempt);

}  // namespace aitrace::eevdf
