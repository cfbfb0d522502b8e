// Ring-buffer records -> EEVDF summary + Perfetto packets.
#include "aitrace/output/escape.hpp"
#include "aitrace/output/perfetto_writer.hpp"
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/eevdf/sched_trace_math.hpp"

#include <cstring>

namespace aitrace {
namespace {

template <typename T>
bool copy_record(std::span<const std::byte> rec, T* out) {
  if (rec.size() < sizeof(T)) return false;
  std::memcpy(out, rec.data(), sizeof(T));
  return true;
}

PerfettoTask perfetto_task(const aitrace_st_task& t) {
  return {t.pid, kernel_string(t.comm, sizeof(t.comm)), t.prio, t.tgid, t.start_time};
}

eevdf::CfsState cfs_state(const aitrace_st_cfs& c) {
  return {c.sum_w_vruntime, c.sum_weight, c.zero_vruntime, c.curr_on_rq != 0, c.curr_vruntime, c.curr_weight};
}

}  // namespace

void SchedTraceDecoder::on_record(std::span<const std::byte> rec) {
  aitrace_st_header h;
  if (!copy_record(rec, &h)) {
    malformed_++;
    return;
  }
  switch (h.kind) {
    case AITRACE_ST_SWITCH: {
      aitrace_st_switch r;
      if (copy_record(rec, &r)) return on_switch(r);
      break;
    }
    case AITRACE_ST_SWITCH_BRIEF: {
      aitrace_st_switch_brief r;
      if (copy_record(rec, &r)) return on_brief_switch(r);
      break;
    }
    case AITRACE_ST_WAKING: {
      aitrace_st_waking r;
      if (copy_record(rec, &r)) return on_waking(r);
      break;
    }
    case AITRACE_ST_WAKEUP:
    case AITRACE_ST_WAKEUP_NEW: {
      aitrace_st_wakeup r;
      if (copy_record(rec, &r)) return on_wakeup(r);
      break;
    }
    default:
      break;
  }
  malformed_++;
}

void SchedTraceDecoder::task_counters(uint64_t ts, const aitrace_st_task& t, uint16_t flags,
                                      std::optional<int64_t> lag) {
  if (!trace_ || !t.pid) return;
  // vruntime, lag and deadline are virtual time (wall ns x 1024/weight); the slice is wall ns.
  // They change together: one packet.
  const PerfettoTask task = perfetto_task(t);
  if (!(flags & AITRACE_ST_F_EEVDF)) {
    trace_->counter(ts, task, "vruntime_vns", CounterUnit::virtual_ns, static_cast<int64_t>(t.vruntime));
    return;
  }
  CounterValue values[3]{};
  size_t n = 0;
  if (lag) values[n++] = {"lag_vns", CounterUnit::virtual_ns, *lag};
  values[n++] = {"slice_ns", CounterUnit::wall_ns, static_cast<int64_t>(t.slice)};
  values[n++] = {"deadline_minus_vruntime_vns", CounterUnit::virtual_ns, static_cast<int64_t>(t.deadline - t.vruntime)};
  trace_->counters(ts, task, std::span<const CounterValue>(values, n));
}

void SchedTraceDecoder::on_switch(const aitrace_st_switch& r) {
  switches_++;
  if (summary_) summary_->on_switch(r);
  if (!trace_) return;
  trace_->thread_name(r.hdr.cpu, r.hdr.ts, perfetto_task(r.prev));
  trace_->thread_name(r.hdr.cpu, r.hdr.ts, perfetto_task(r.next));
  trace_->sched_switch(r.hdr.cpu, r.hdr.ts, perfetto_task(r.prev),
                       eevdf::ftrace_prev_state(r.prev_state, r.prev_exit_state, r.preempt), perfetto_task(r.next));
  if (r.prev_wanted) task_counters(r.hdr.ts, r.prev, r.hdr.flags, switch_out_lag(r));
  if (r.next_wanted) {
    // next is the cfs_rq's running entity now, so V already includes it.
    std::optional<int64_t> lag;
    if ((r.hdr.flags & AITRACE_ST_F_AVG) && r.next_cfs.valid) lag = eevdf::lag(cfs_state(r.next_cfs), r.next.vruntime);
    task_counters(r.hdr.ts, r.next, r.hdr.flags, lag);
  }
  // exit_notify() set exit_state: the writer may forget the task once enough others exited.
  if (r.prev_exit_state) trace_->task_exited(perfetto_task(r.prev));
}

// Two untraced tasks: only the CPU view, so the chain of switches on this CPU stays whole.
void SchedTraceDecoder::on_brief_switch(const aitrace_st_switch_brief& r) {
  switches_++;
  if (!trace_) return;
  const PerfettoTask prev{r.prev_pid, kernel_string(r.prev_comm, sizeof(r.prev_comm)), r.prev_prio, r.prev_tgid,
                          r.prev_start_time};
  const PerfettoTask next{r.next_pid, kernel_string(r.next_comm, sizeof(r.next_comm)), r.next_prio, r.next_tgid,
                          r.next_start_time};
  trace_->thread_name(r.hdr.cpu, r.hdr.ts, prev);
  trace_->thread_name(r.hdr.cpu, r.hdr.ts, next);
  trace_->sched_switch(r.hdr.cpu, r.hdr.ts, prev, eevdf::ftrace_prev_state(r.prev_state, r.prev_exit_state, r.preempt),
                       next);
}

void SchedTraceDecoder::on_waking(const aitrace_st_waking& r) {
  wakings_++;
  if (!trace_) return;
  const PerfettoTask wakee{r.pid, kernel_string(r.comm, sizeof(r.comm)), r.prio, r.tgid, r.start_time};
  trace_->thread_name(r.hdr.cpu, r.hdr.ts, wakee);
  trace_->thread_name(r.hdr.cpu, r.hdr.ts,
                      {r.waker_pid, kernel_string(r.waker_comm, sizeof(r.waker_comm)), 120, r.waker_tgid,
                       r.waker_start_time});
  trace_->sched_waking(r.hdr.cpu, r.hdr.ts, r.waker_pid, wakee, r.target_cpu);
}

void SchedTraceDecoder::on_wakeup(const aitrace_st_wakeup& r) {
  wakeups_++;
  if (summary_) summary_->on_wakeup(r);
  if (!trace_) return;
  if (r.hdr.kind == AITRACE_ST_WAKEUP_NEW) {
    trace_->thread_name(r.hdr.cpu, r.hdr.ts, perfetto_task(r.wakee));
    trace_->sched_wakeup_new(r.hdr.cpu, r.hdr.ts, 0, perfetto_task(r.wakee), r.target_cpu);
  }
  // The wakee is enqueued (in the sums) now: its lag is V - v directly.
  std::optional<int64_t> lag;
  if ((r.hdr.flags & AITRACE_ST_F_AVG) && r.cfs.valid) lag = eevdf::lag(cfs_state(r.cfs), r.wakee.vruntime);
  task_counters(r.hdr.ts, r.wakee, r.hdr.flags, lag);
}

}  // namespace aitrace
