// The EEVDF scheduling trace (`aitrace sched --eevdf / --trace FILE`): a separate BPF object
// (bpf/sched_trace.bpf.c) emitting per-event records through per-CPU ring buffers, decoded into
// a per-thread EEVDF summary and, optionally, a streaming Perfetto trace.
#pragma once

#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/sched_trace_events.h"
#include "aitrace/core/signed_histogram.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "aitrace/eevdf/lag_samples.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace aitrace {

class PerfettoWriter;
class RingReader;
class TraceRecordWindow;

// Every event the EEVDF trace can hook (its hook table), for doctor's catalog.
CollectorTracepoints eevdf_tracepoints();

// Preemptors tracked per thread: the top 5 are reported, and a fork storm must not grow a
// long-lived thread's map by one entry per pid.
inline constexpr size_t kMaxPreemptors = 64;

struct EevdfThread {
  uint32_t tid = 0, tgid = 0;
  uint64_t start_time = 0;  // task->start_boottime: a reused tid is another thread
  std::string comm;
  int32_t prio = 0;
  uint32_t weight = 0;    // scale_load_down(se.load.weight): 1024 = nice 0
  uint64_t slice_ns = 0;  // the latest se.slice seen
  bool custom_slice = false;
  uint64_t switch_ins = 0;                  // times the thread got a CPU
  uint64_t switch_outs = 0;                 // times the thread left a CPU
  uint64_t preempted = 0;                   // ... while still runnable (involuntary)
  uint64_t preempted_before_slice_end = 0;  // ... having run less than its slice since picked
  uint64_t wakeups = 0;
  uint64_t wakeup_preemptions = 0;    // woken, it took the CPU from a runnable task
  uint64_t eligible_switch_outs = 0;  // lag >= 0 when switched out
  uint64_t runtime_ns = 0;            // CPU time of the runs that ended while traced: sum_last - sum_first
  // The kernel's sum_exec_runtime as this thread's switch records showed it: the earliest start
  // of a run (a switch-in, or the last pick at a switch-out) and the latest figure. It only grows,
  // so the difference does not depend on the order the CPUs' rings are decoded in, nor on a
  // switch-in that no record shows. sum_floor: what earlier records of the thread already
  // counted (a late record of a folded thread, see EevdfSummary).
  uint64_t sum_first = UINT64_MAX, sum_last = 0, sum_floor = 0;
  uint64_t last_vruntime = 0;
  LagSamples lag_ns;  // V - v_i at switch-out (virtual ns)
  struct Preemptor {
    std::string comm;
    uint64_t count = 0;
  };
  std::map<uint32_t, Preemptor> preemptors;  // by pid of the task that took the CPU, at most kMaxPreemptors
  uint64_t preemptions_untracked = 0;        // preemptions by further tasks once the map was full
};

// Exited threads added together. A thread's state outlives its last switch-out until
// `keep_exited` later exits have come (a short run reports each of its threads); then it is
// folded in here and freed, so memory follows the live threads, not every thread ever seen.
struct EevdfExited {
  uint64_t threads = 0;
  uint64_t switch_ins = 0, switch_outs = 0, preempted = 0, preempted_before_slice_end = 0;
  uint64_t wakeups = 0, wakeup_preemptions = 0, eligible_switch_outs = 0, runtime_ns = 0;
  SignedHistogram lag_ns;
  void add(const EevdfThread& t);
};

// Per-thread EEVDF analysis from decoded records.
class EevdfSummary {
 public:
  static constexpr size_t kKeepExited = 512;  // up to ~11 KB each (LagSamples' histogram)
  explicit EevdfSummary(size_t keep_exited = kKeepExited) : keep_exited_(keep_exited) {}
  void on_switch(const aitrace_st_switch& r);
  void on_wakeup(const aitrace_st_wakeup& r);

  // False when the records came from a CFS kernel (no sched_entity.deadline/vlag/slice).
  bool eevdf_kernel() const { return !seen_ || (flags_ & AITRACE_ST_F_EEVDF); }
  bool lag_available() const { return seen_ && (flags_ & AITRACE_ST_F_AVG); }
  // Live threads and the last keep_exited exited ones; the others are in exited().
  const std::map<uint32_t, EevdfThread>& threads() const { return threads_; }
  const EevdfThread* thread(uint32_t tid) const;
  const EevdfExited& exited() const { return exited_; }
  // Folds the threads not seen exiting that `alive` says are gone: their last switch-out record
  // was lost (a full ring, a busy program), so nothing else would ever free them.
  void fold_gone(const std::function<bool(uint32_t tid)>& alive);

  // The groups[].eevdf object of the sched JSON for one thread.
  nlohmann::json thread_json(const EevdfThread& t) const;
  // {"kernel":"eevdf"|"cfs", "groups":[{"tid","tgid","comm","eevdf":{..}}], "exited":{..}}
  nlohmann::json json() const;
  // The `top` threads with the most preemptions (then the most switch-outs), each with its lag
  // percentiles, and the lag's bars with `hist`; a last line counts the threads left out.
  std::string text(size_t top = SIZE_MAX, bool hist = true) const;

 private:
  std::string thread_text(uint32_t tid, const EevdfThread& t, bool hist) const;
  EevdfThread& thread_for(const aitrace_st_task& t);
  void retire(uint32_t tid, uint64_t start_time);
  void fold(uint32_t tid, uint64_t start_time);
  void settle_late();
  nlohmann::json exited_json() const;
  size_t keep_exited_;
  std::map<uint32_t, EevdfThread> threads_;
  std::deque<std::pair<uint32_t, uint64_t>> exits_;  // (tid, start time) of exited threads kept, oldest first
  std::set<std::pair<uint32_t, uint64_t>> retired_;   // the same, for lookup
  EevdfExited exited_;
  // Rings are per CPU: a record of a thread from another CPU can be decoded after the thread
  // was folded. Such late records land in `late_`, which goes straight into exited_, found by
  // the (tid, start time) of the last kRecentFolds folds, each with the latest sum_exec_runtime
  // the thread had counted: a late record adds only CPU time past it.
  static constexpr size_t kRecentFolds = 4096;
  void remember_fold(uint32_t tid, uint64_t start_time, uint64_t sum_last);
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> recent_folds_;
  std::deque<std::pair<uint32_t, uint64_t>> recent_order_;
  EevdfThread late_;
  bool late_used_ = false;
  uint16_t flags_ = 0;
  bool seen_ = false;
};

// Lag of the task switched out, as the kernel saw it when deciding (V including that task);
// nullopt when the kernel or the record has no cfs_rq sums.
std::optional<int64_t> switch_out_lag(const aitrace_st_switch& r, bool* eligible = nullptr);

// Turns ring-buffer records into summary updates and Perfetto packets.
class SchedTraceDecoder {
 public:
  SchedTraceDecoder(EevdfSummary* summary, PerfettoWriter* trace) : summary_(summary), trace_(trace) {}
  void on_record(std::span<const std::byte> rec);

  uint64_t switches() const { return switches_; }  // brief ones included
  uint64_t wakings() const { return wakings_; }
  uint64_t wakeups() const { return wakeups_; }
  uint64_t malformed() const { return malformed_; }

 private:
  void on_switch(const aitrace_st_switch& r);
  void on_brief_switch(const aitrace_st_switch_brief& r);
  void on_waking(const aitrace_st_waking& r);
  void on_wakeup(const aitrace_st_wakeup& r);
  void task_counters(uint64_t ts, const aitrace_st_task& t, uint16_t flags, std::optional<int64_t> lag);
  EevdfSummary* summary_;
  PerfettoWriter* trace_;
  uint64_t switches_ = 0, wakings_ = 0, wakeups_ = 0, malformed_ = 0;
};

// The default ring per CPU: the share of a 64 MiB budget for all rings that each CPU gets, as a
// power of two between 256 KiB and 16 MiB (16 MiB up to 4 CPUs, 1 MiB at 64, 256 KiB from 256).
uint32_t default_trace_ring_bytes(int ncpus);

struct SchedTraceOptions {
  std::string trace_path;                               // Perfetto output; empty: summary only
  uint32_t ring_bytes = 0;  // per CPU, power of two >= page size; 0: default_trace_ring_bytes()
  uint32_t wakeup_bytes = 0;  // fill level that wakes the consumer early; 0: a quarter of the ring
  // The flight recorder's memory of the trace (trace_record_window.hpp): every record is also
  // kept there, and every switch is recorded, as for a trace file. Not owned; outlives the collector.
  TraceRecordWindow* window = nullptr;
};

struct SchedTraceStats {
  std::vector<uint64_t> lost_per_cpu;  // failed ring-buffer reserves, by CPU
  uint64_t emitted = 0, lost = 0, no_ring = 0, wakeups_sent = 0;
  uint64_t decoded = 0, malformed = 0;
  // Events the kernel did not run a program for because it was already running on that CPU
  // (bpf_prog_info.recursion_misses, 5.12+): lost events too.
  uint64_t missed = 0;
  uint64_t trace_packets = 0, trace_bytes = 0;
  // The write error that stopped the trace file early (empty: complete), and the sched events
  // and counter values decoded after it (or lost in the buffer it failed to write).
  std::string trace_stopped;
  uint64_t trace_events_not_written = 0;
  // Kernel-measured cost of each program, when kernel.bpf_stats_enabled=1 (else empty).
  struct Program {
    std::string name;
    uint64_t runs = 0, run_ns = 0;
  };
  std::vector<Program> programs;
  nlohmann::json json() const;
  std::string text() const;
};

class SchedTraceCollector {
 public:
  // Opens, configures (filter, ring sizes, CPU count), loads, and creates the per-CPU rings and
  // the trace file. Nothing is attached yet.
  static Result<std::unique_ptr<SchedTraceCollector>> open(const ResolvedTargets& targets,
                                                           const SchedTraceOptions& opts,
                                                           const KernelFeatures& features,
                                                           const CountingWindow* window = nullptr);
  ~SchedTraceCollector();

  // Fills the filter maps and attaches.
  Status attach();
  // Decodes the records the rings hold now (a snapshot's read), not only those past the wake-up
  // mark: one pass, bounded by what each ring held when it began, since the programs keep writing
  // (a loop until empty never ends while they write faster than we decode).
  Status drain();
  // The run's window (the collector contract's start() and stop()): held from open on.
  void start();
  void stop();
  void add_to(RunLoop& loop);
  void detach();  // nothing new is recorded; what the rings hold is drained by finish()
  // Drains the rings, writes the last packets and renames the trace into place. A trace write
  // error is no error of these: it stops the trace file only (one warning; stats() shows it).
  Status finish();

  const HookSet& hooks() const;
  const EevdfSummary& summary() const;
  SchedTraceStats stats() const;
  const std::string& trace_path() const;

 private:
  struct Impl;
  explicit SchedTraceCollector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
