// Streaming Perfetto trace writer. Packets are appended to the file as events arrive (bounded
// memory): sched ftrace events are batched per CPU into FtraceEventBundles, sched_switch and
// sched_waking in Perfetto's compact encoding (FtraceEventBundle.CompactSched), and the counter
// values of one task at one time into one TrackEvent on its per-thread counter tracks. A trace file is a concatenation of
// `Trace.packet` fields, so every prefix that ends on a packet boundary is itself a valid trace:
// flush() writes whole packets only, which is what makes a trace cut by a crash readable.
#pragma once

#include "aitrace/core/output_file.hpp"
#include "aitrace/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace aitrace {

struct PerfettoTask {
  uint32_t pid = 0;  // kernel pid (thread id)
  std::string_view comm;
  int32_t prio = 120;
  uint32_t tgid = 0;
  // task->start_boottime (ns since boot, the trace's clock): a reused pid is a new task that
  // started later, and gets a thread of its own in the trace. 0: unknown (the idle tasks).
  uint64_t start_time = 0;
};

// What a counter's values are: wall-clock ns, or virtual time (EEVDF's vruntime, lag and
// deadline advance at wall time x 1024/weight, so they are not ns of wall time).
enum class CounterUnit { wall_ns, virtual_ns };

struct CounterValue {
  std::string_view name;  // the track's name; at most 7 names per trace
  CounterUnit unit;
  int64_t value;
};

class PerfettoWriter {
 public:
  // Creates the file (OutputFile: private temporary renamed on finish()).
  static Result<std::unique_ptr<PerfettoWriter>> create(const std::string& path);
  ~PerfettoWriter();

  // System info (uname, CPU count) so the UI decodes prev_state for this kernel version.
  void system_info();
  // Names a thread (and its process, once, with its command line from /proc) in the process
  // tree; written again only on a rename. A pid seen with a new start time is a new task: the
  // old one's end is written just before the new one started (sched_process_free, which ends a
  // thread in Perfetto's importer), on `cpu`'s event stream.
  void thread_name(uint32_t cpu, uint64_t ts, const PerfettoTask& t);
  // Compact form (next's pid, prio and comm, prev_state) when prev is the CPU's last next task,
  // else a whole sched_switch event with prev (counted in switch_chain_breaks()).
  void sched_switch(uint32_t cpu, uint64_t ts, const PerfettoTask& prev, int64_t prev_state, const PerfettoTask& next);
  // Compact form: the waker (current_pid) is not kept.
  void sched_waking(uint32_t cpu, uint64_t ts, uint32_t current_pid, const PerfettoTask& wakee, uint32_t target_cpu);
  void sched_wakeup_new(uint32_t cpu, uint64_t ts, uint32_t current_pid, const PerfettoTask& task, uint32_t target_cpu);
  // A value on the thread's counter track `name` (created on first use, under the track of this
  // task: a reused pid's new task gets new tracks).
  void counter(uint64_t ts, const PerfettoTask& t, std::string_view name, CounterUnit unit, int64_t value);
  // Values of the task's counters taken at one time: one packet (a TYPE_COUNTER TrackEvent, the
  // values after the first as its extra counter values).
  void counters(uint64_t ts, const PerfettoTask& t, std::span<const CounterValue> values);

  // The task left for good (its last switch-out). The writer keeps a task's name and track
  // numbers until kKeepExitedTasks more tasks exited (its records can still come from other
  // CPUs' rings), then forgets them: a long trace's memory follows the live tasks.
  static constexpr size_t kKeepExitedTasks = 8192;
  void task_exited(const PerfettoTask& t);
  // Tasks' names and track numbers held now (the tests' view of the bound above).
  size_t tasks_held() const;

  // Writes all pending packets; with durable, also fdatasync()s the partial file. The first
  // write error stops the writer for good (see failure()); every later call returns it.
  Status flush(bool durable);
  // Flushes and renames the file into place, a stopped one too (it holds the whole packets
  // written before the error); returns the write error, else the rename's.
  Status finish();
  // The write error that stopped the writer; ok while it writes.
  const Status& failure() const;
  // Switches whose prev was not the next task of their CPU's switch before (the CPU's first
  // switch excepted): a record lost, or a switch the kernel did not report.
  uint64_t switch_chain_breaks() const;
  uint64_t packets_written() const;  // whole packets in the file
  uint64_t bytes_written() const;
  // Sched events and counter values handed over but not in the file: dropped after a stop, or
  // still buffered (none after finish()).
  uint64_t events_not_written() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit PerfettoWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
