// Per-thread EEVDF summary: slices, weights, preemptions and the lag distribution at switch-out.
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"
#include "aitrace/output/signed_histogram_render.hpp"
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/eevdf/sched_trace_math.hpp"
#include "aitrace/switch_class.h"

#include <fmt/format.h>

#include <algorithm>

namespace aitrace {
namespace {

eevdf::CfsState cfs_state(const aitrace_st_cfs& c) {
  return {c.sum_w_vruntime, c.sum_weight, c.zero_vruntime, c.curr_on_rq != 0, c.curr_vruntime, c.curr_weight};
}

bool involuntary(const aitrace_st_switch& r) { return aitrace_switch_involuntary(r.preempt, r.prev_state); }

uint64_t runtime_since_pick(const aitrace_st_task& t) {
  return t.sum_exec_runtime >= t.prev_sum_exec_runtime ? t.sum_exec_runtime - t.prev_sum_exec_runtime : 0;
}

/*
 * A thread's CPU time is the growth of the kernel's sum_exec_runtime between its records: from
 * the earliest run start seen (a switch-in; at a switch-out, the last pick) to the latest figure.
 * Summing since each pick at the switch-outs (prev_sum_exec_runtime) missed time: the kernel
 * picks a running task again without a switch when its group, affinity or nice changes, and on
 * exit where autogroup moves it, and the part of the run before that was lost, up to 8 ms of a
 * thread's 1.13 s, 1.5 ms or more in 7 of 22 threads (the nice workload of
 * SchedTraceBpf.NiceWeightsAndShares, 11 runs). Pairing each switch-out with its switch-in
 * instead failed where no record shows the switch-in (no program runs while a PID-1 thread is
 * current here) or another CPU's ring was decoded in between.
 */
void observe_sum(EevdfThread& th, uint64_t start, uint64_t now) {
  th.sum_first = std::min(th.sum_first, std::max(start, th.sum_floor));
  th.sum_last = std::max(th.sum_last, now);
  th.runtime_ns = th.sum_last > th.sum_first ? th.sum_last - th.sum_first : 0;
}

constexpr size_t kTopPreemptors = 5;

}  // namespace

std::optional<int64_t> switch_out_lag(const aitrace_st_switch& r, bool* eligible) {
  if (!(r.hdr.flags & AITRACE_ST_F_AVG) || !r.prev_cfs.valid || !r.prev.pid) return std::nullopt;
  eevdf::CfsState c = cfs_state(r.prev_cfs);
  // A task still on the run queue was put back into the sums; one that went to sleep was the
  // running entity when the kernel decided, so it is added back in.
  std::optional<eevdf::Entity> extra;
  if (!r.prev.on_rq) extra = eevdf::Entity{r.prev.vruntime, r.prev.weight};
  if (eligible) *eligible = eevdf::eligible(c, r.prev.vruntime, extra);
  return eevdf::lag(c, r.prev.vruntime, extra);
}

void EevdfExited::add(const EevdfThread& t) {
  switch_ins += t.switch_ins;
  switch_outs += t.switch_outs;
  preempted += t.preempted;
  preempted_before_slice_end += t.preempted_before_slice_end;
  wakeups += t.wakeups;
  wakeup_preemptions += t.wakeup_preemptions;
  eligible_switch_outs += t.eligible_switch_outs;
  runtime_ns += t.runtime_ns;
  t.lag_ns.add_to(lag_ns);
}

EevdfThread& EevdfSummary::thread_for(const aitrace_st_task& t) {
  EevdfThread* th = nullptr;
  // One search per record (the consumer's hot path): the hint inserts a new tid in place.
  auto it = threads_.lower_bound(t.pid);
  const bool known = it != threads_.end() && it->first == t.pid;
  // A record of an older thread of this tid, decoded after the newer one took the tid (rings
  // are per CPU): that thread was counted in exited_ when it was replaced.
  const bool older = known && t.start_time < it->second.start_time;
  auto folded = recent_folds_.find({t.pid, t.start_time});
  if (older || folded != recent_folds_.end()) {
    // One record at a time (settle_late() follows each side of a switch): its CPU time past
    // what the thread had counted when it was folded, or since the pick if that was forgotten.
    if (late_used_) settle_late();
    late_ = EevdfThread{};
    if (folded != recent_folds_.end()) late_.sum_floor = folded->second;
    late_used_ = true;
    th = &late_;
  } else {
    if (!known) it = threads_.emplace_hint(it, t.pid, EevdfThread{});
    // A reused tid whose first thread's exit never reached us (its last switch-out was lost):
    // that thread is done, so it joins the exited ones.
    else if (it->second.start_time != t.start_time) {
      exited_.add(it->second);
      exited_.threads++;
      remember_fold(t.pid, it->second.start_time, it->second.sum_last);
      it->second = EevdfThread{};
    }
    th = &it->second;
  }
  th->tid = t.pid;
  th->tgid = t.tgid;
  th->start_time = t.start_time;
  th->comm = std::string(kernel_string(t.comm, sizeof(t.comm)));
  th->prio = t.prio;
  th->weight = t.weight;
  th->slice_ns = t.slice;
  th->custom_slice = t.custom_slice != 0;
  th->last_vruntime = t.vruntime;
  return *th;
}

void EevdfSummary::retire(uint32_t tid, uint64_t start_time) {
  auto it = threads_.find(tid);
  if (it == threads_.end() || it->second.start_time != start_time) return;
  if (!retired_.insert({tid, start_time}).second) return;
  exits_.emplace_back(tid, start_time);
  while (exits_.size() > keep_exited_) {
    fold(exits_.front().first, exits_.front().second);
    retired_.erase(exits_.front());
    exits_.pop_front();
  }
}

void EevdfSummary::fold_gone(const std::function<bool(uint32_t tid)>& alive) {
  std::vector<std::pair<uint32_t, uint64_t>> gone;
  for (const auto& [tid, t] : threads_)
    if (!retired_.contains({tid, t.start_time}) && !alive(tid)) gone.emplace_back(tid, t.start_time);
  for (const auto& [tid, start] : gone) fold(tid, start);
}

void EevdfSummary::fold(uint32_t tid, uint64_t start_time) {
  auto it = threads_.find(tid);
  // Gone already: its tid was reused and thread_for() folded it then.
  if (it == threads_.end() || it->second.start_time != start_time) return;
  exited_.add(it->second);
  exited_.threads++;
  remember_fold(tid, start_time, it->second.sum_last);
  threads_.erase(it);
}

void EevdfSummary::remember_fold(uint32_t tid, uint64_t start_time, uint64_t sum_last) {
  auto [at, added] = recent_folds_.try_emplace({tid, start_time}, sum_last);
  if (!added) {
    at->second = std::max(at->second, sum_last);
    return;
  }
  recent_order_.emplace_back(tid, start_time);
  if (recent_order_.size() > kRecentFolds) {
    recent_folds_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

void EevdfSummary::settle_late() {
  if (!late_used_) return;
  exited_.add(late_);
  // A later late record of the thread counts only past this one.
  if (auto f = recent_folds_.find({late_.tid, late_.start_time}); f != recent_folds_.end())
    f->second = std::max(f->second, late_.sum_last);
  late_used_ = false;
}

const EevdfThread* EevdfSummary::thread(uint32_t tid) const {
  auto it = threads_.find(tid);
  return it == threads_.end() ? nullptr : &it->second;
}

void EevdfSummary::on_switch(const aitrace_st_switch& r) {
  seen_ = true;
  flags_ = r.hdr.flags;
  if (r.prev_wanted && r.prev.pid) {
    EevdfThread& th = thread_for(r.prev);
    th.switch_outs++;
    observe_sum(th, r.prev.prev_sum_exec_runtime, r.prev.sum_exec_runtime);
    if (involuntary(r)) {
      th.preempted++;
      if ((r.hdr.flags & AITRACE_ST_F_EEVDF) && runtime_since_pick(r.prev) < r.prev.slice)
        th.preempted_before_slice_end++;
      // A long-lived thread preempted by a fork storm would gather a preemptor per pid.
      auto it = th.preemptors.find(r.next.pid);
      if (it == th.preemptors.end() && th.preemptors.size() >= kMaxPreemptors) {
        th.preemptions_untracked++;
      } else {
        auto& p = it != th.preemptors.end() ? it->second : th.preemptors[r.next.pid];
        p.comm = std::string(kernel_string(r.next.comm, sizeof(r.next.comm)));
        p.count++;
      }
    }
    bool eligible = false;
    if (auto lag = switch_out_lag(r, &eligible)) {
      th.lag_ns.record(*lag);
      if (eligible) th.eligible_switch_outs++;
    }
  }
  settle_late();  // the two sides may both be late records: late_ holds one thread
  if (r.next_wanted && r.next.pid) {
    EevdfThread& th = thread_for(r.next);
    th.switch_ins++;
    observe_sum(th, r.next.sum_exec_runtime, r.next.sum_exec_runtime);
    if (r.wakeup_preempt) th.wakeup_preemptions++;
  }
  settle_late();
  // exit_notify() set exit_state: the task is on its way out. It can still be preempted once
  // before its last schedule() (do_exit under CONFIG_PREEMPT); retire() keeps it once.
  if (r.prev_wanted && r.prev.pid && r.prev_exit_state) retire(r.prev.pid, r.prev.start_time);
}

void EevdfSummary::on_wakeup(const aitrace_st_wakeup& r) {
  seen_ = true;
  flags_ = r.hdr.flags;
  if (!r.wakee.pid) return;
  thread_for(r.wakee).wakeups++;
  settle_late();
}

nlohmann::json EevdfSummary::thread_json(const EevdfThread& t) const {
  std::vector<std::pair<uint32_t, const EevdfThread::Preemptor*>> top;
  top.reserve(t.preemptors.size());
  for (const auto& [pid, p] : t.preemptors) top.emplace_back(pid, &p);
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second->count != b.second->count ? a.second->count > b.second->count : a.first < b.first;
  });
  if (top.size() > kTopPreemptors) top.resize(kTopPreemptors);
  nlohmann::json preemptors = nlohmann::json::array();
  for (const auto& [pid, p] : top)
    preemptors.push_back({{"pid", pid}, {"comm", sanitize_utf8(p->comm)}, {"count", p->count}});

  nlohmann::json j = {{"weight", t.weight},
                      {"switch_ins", t.switch_ins},
                      {"switch_outs", t.switch_outs},
                      {"preempted", t.preempted},
                      {"wakeups", t.wakeups},
                      {"runtime_ns", t.runtime_ns},
                      {"top_preemptors", std::move(preemptors)},
                      {"preemptions_untracked", t.preemptions_untracked}};
  if (!eevdf_kernel()) {
    j["kernel"] = "cfs";
    j["note"] = "CFS kernel: no EEVDF fields";
    j["vruntime_ns"] = t.last_vruntime;
    return j;
  }
  j["slice_ns"] = t.slice_ns;
  j["custom_slice"] = t.custom_slice;
  j["preempted_before_slice_end"] = t.preempted_before_slice_end;
  j["wakeup_preemptions"] = t.wakeup_preemptions;
  if (lag_available()) {
    j["eligible_switch_outs"] = t.eligible_switch_outs;
    j["lag_ns"] = signed_histogram_json(t.lag_ns.histogram(), "virtual ns");  // V - v: not wall time
  }
  return j;
}

nlohmann::json EevdfSummary::exited_json() const {
  const EevdfExited& e = exited_;
  nlohmann::json j = {{"threads", e.threads},     {"switch_ins", e.switch_ins}, {"switch_outs", e.switch_outs},
                      {"preempted", e.preempted}, {"wakeups", e.wakeups},       {"runtime_ns", e.runtime_ns}};
  if (!eevdf_kernel()) return j;
  j["preempted_before_slice_end"] = e.preempted_before_slice_end;
  j["wakeup_preemptions"] = e.wakeup_preemptions;
  if (lag_available()) {
    j["eligible_switch_outs"] = e.eligible_switch_outs;
    j["lag_ns"] = signed_histogram_json(e.lag_ns, "virtual ns");
  }
  return j;
}

nlohmann::json EevdfSummary::json() const {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& [tid, t] : threads_)
    groups.push_back({{"tid", tid}, {"tgid", t.tgid}, {"comm", sanitize_utf8(t.comm)}, {"eevdf", thread_json(t)}});
  return {{"kernel", eevdf_kernel() ? "eevdf" : "cfs"}, {"groups", std::move(groups)}, {"exited", exited_json()}};
}

std::string EevdfSummary::thread_text(uint32_t tid, const EevdfThread& t, bool hist) const {
  std::string out = fmt::format("EEVDF {} (tid {}, tgid {}): weight {}", escape_text(t.comm), tid, t.tgid, t.weight);
  if (eevdf_kernel()) out += fmt::format(", slice {}{}", format_ns(t.slice_ns), t.custom_slice ? " (custom)" : "");
  out += fmt::format(", cpu {}\n", format_ns(t.runtime_ns));
  out += fmt::format("  switch-ins {}, switch-outs {}, preempted {}", t.switch_ins, t.switch_outs, t.preempted);
  if (eevdf_kernel())
    out += fmt::format(" ({} before slice end), wakeups {}, wakeup preemptions {}", t.preempted_before_slice_end,
                       t.wakeups, t.wakeup_preemptions);
  out += "\n";
  if (!t.preemptors.empty()) {
    std::vector<std::pair<uint64_t, uint32_t>> top;
    top.reserve(t.preemptors.size());
    for (const auto& [pid, p] : t.preemptors) top.emplace_back(p.count, pid);
    std::sort(top.begin(), top.end(),
              [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    out += "  preempted by:";
    for (size_t i = 0; i < top.size() && i < kTopPreemptors; i++)
      out += fmt::format(" {}[{}] x{}", escape_text(t.preemptors.at(top[i].second).comm), top[i].second, top[i].first);
    out += "\n";
  }
  if (eevdf_kernel() && lag_available()) {
    out += fmt::format("  eligible at switch-out: {} of {}\n", t.eligible_switch_outs, t.lag_ns.count());
    std::string lag = signed_histogram_text(t.lag_ns.histogram(), "lag at switch-out (V - v, virtual time)");
    // Without --hist only the title line with the percentiles; the bars follow it.
    if (!hist) lag.erase(lag.find('\n') + 1);
    out += lag;
  }
  return out;
}

std::string EevdfSummary::text(size_t top, bool hist) const {
  std::string out;
  if (!eevdf_kernel()) out += "EEVDF: CFS kernel: no EEVDF fields (vruntime only)\n";
  std::vector<std::pair<uint32_t, const EevdfThread*>> shown;
  for (const auto& [tid, t] : threads_)
    if (t.switch_outs || t.wakeups) shown.emplace_back(tid, &t);
  std::sort(shown.begin(), shown.end(), [](const auto& a, const auto& b) {
    if (a.second->preempted != b.second->preempted) return a.second->preempted > b.second->preempted;
    if (a.second->switch_outs != b.second->switch_outs) return a.second->switch_outs > b.second->switch_outs;
    return a.first < b.first;
  });
  const size_t n = std::min(top, shown.size());
  for (size_t i = 0; i < n; i++) out += thread_text(shown[i].first, *shown[i].second, hist);
  if (shown.size() > n)
    out += fmt::format("({} more EEVDF thread{} not shown, fewest preemptions; --top N or --json for all)\n",
                       shown.size() - n, shown.size() - n == 1 ? "" : "s");
  if (exited_.threads)
    out += fmt::format("EEVDF exited threads folded together ({}): switch-ins {}, switch-outs {}, preempted {}, cpu {}\n",
                       exited_.threads, exited_.switch_ins, exited_.switch_outs, exited_.preempted,
                       format_ns(exited_.runtime_ns));
  return out;
}

}  // namespace aitrace
