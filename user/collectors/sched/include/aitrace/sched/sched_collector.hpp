// The sched collector: loads bpf/sched.bpf.c, attaches one hook flavour for every event, and
// reads the in-kernel aggregates (per-group stats + sparse histograms) into snapshots.
#pragma once

#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/histogram.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/sched_events.h"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "aitrace/sched/sched_slow_events.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aitrace {

class RingReader;

// Every event the collector can hook (its hook table), for doctor's catalog.
CollectorTracepoints sched_tracepoints();

// container and pod: the kernel groups by cgroup, and the report merges each cgroup into its
// container or pod (sched_owner_groups.hpp).
enum class SchedGroupBy { thread, process, cgroup, comm, none, container, pod };
std::optional<SchedGroupBy> parse_sched_group_by(std::string_view s);
const char* sched_group_by_name(SchedGroupBy g);

inline constexpr std::array<const char*, AITRACE_SCHED_METRICS> kSchedMetricNames = {
    "runq_wakeup", "runq_preempt", "oncpu", "offcpu_sleep", "offcpu_block"};

// Which clock stamps transitions: bpf_ktime_get_ns() read at each tracepoint (wall time, as
// runqlat and bpftrace measure it; the default), or the run queue's clock (schedstat's view: a
// lower bound on run-queue wait, stale after preempting wakeups; docs/sched.md, "Clocks").
enum class SchedClock { wall, rq };

// A million groups is far beyond any host's thread count and keeps the maps allocatable.
inline constexpr uint32_t kSchedMaxGroupsLimit = 1u << 20;

struct SchedConfig {
  SchedGroupBy group_by = SchedGroupBy::process;
  SchedClock clock = SchedClock::wall;
  uint32_t max_groups = AITRACE_SCHED_DEFAULT_MAX_GROUPS;      // 1..kSchedMaxGroupsLimit
  uint32_t dense_groups = AITRACE_SCHED_DEFAULT_DENSE_GROUPS;  // groups with array histograms and per-CPU totals
  uint32_t max_hist_entries = 0;  // sparse histogram rows (16 buckets each); 0: derived from max_groups
  // Histogram rows a thread keeps in its own task storage (0..AITRACE_SCHED_THREAD_ROWS); the
  // tests take fewer to send samples to the group's rows.
  uint32_t thread_rows = AITRACE_SCHED_THREAD_ROWS;
  ResolvedTargets targets;                                     // whole system when empty
  // Slow events (sched_slow_events.hpp): waits at or over these are also sent one by one; 0: off.
  uint64_t slower_ns = 0;         // --slower: run-queue waits
  uint64_t slower_offcpu_ns = 0;  // --slower-offcpu: sleeps and blocks
  size_t slow_keep = kSlowEventsKeptDefault;                  // the most recent kept for the reports
  uint32_t slow_ring_bytes = AITRACE_SCHED_SLOW_RING_BYTES;  // a power of two of at least a page
};

struct SchedCounters {
  uint64_t switches = 0, involuntary = 0, migrations = 0, numa_moves = 0, numa_swaps = 0;

  SchedCounters& operator+=(const SchedCounters& o) {
    switches += o.switches;
    involuntary += o.involuntary;
    migrations += o.migrations;
    numa_moves += o.numa_moves;
    numa_swaps += o.numa_swaps;
    return *this;
  }
};

struct SchedGroup {
  // tid or tgid (low 32 bits) with its start time, cgroup id, comm hash, 0; AITRACE_SCHED_GROUP_OTHER for `other`
  uint64_t id = 0;
  uint32_t slot = 0;
  bool other = false;
  bool exited = false;
  uint32_t pid = 0, tid = 0;
  uint64_t cgroup_id = 0;
  std::string comm;  // raw kernel bytes; escape when printing
  SchedCounters counters;
  // Exact count/sum/min/max per metric (buckets may miss samples when the hist map overflowed).
  std::array<uint64_t, AITRACE_SCHED_METRICS> count{}, sum{}, min{}, max{};
  // False in interval deltas: the kernel keeps min/max since attach only, so an interval's come
  // from its buckets.
  bool min_max_known = true;
  // Sparse buckets per metric: {bucket index, count}, sorted by index.
  std::array<std::vector<std::pair<uint32_t, uint64_t>>, AITRACE_SCHED_METRICS> buckets;

  // The metric's histogram (a dense Histogram is built only for what is printed).
  Histogram histogram(int metric) const;
};

struct SchedLost {
  uint64_t groups_overflow = 0;     // tasks routed to `other` (group map full)
  uint64_t hist_overflow = 0;       // samples missing from buckets
  uint64_t task_state_missing = 0;  // events without per-task state
  uint64_t fork_overflow = 0;       // child processes not followed (filter map full)
  uint64_t transitions_missed = 0;  // a task's previous switch never reached the program
  uint64_t slow_events = 0;         // slow events the ring had no room for
  uint64_t thread_stats = 0;        // exited threads whose statistics could not be copied (--by thread)
};

struct SchedSnapshot {
  uint64_t duration_ns = 0;
  std::vector<SchedGroup> groups;  // unordered
  SchedLost lost;
  // Switches and wakeups that never reached the program, closed from the kernel's sched_info
  // stamps: a missed switch-in's wait at the task's next switch-out, a missed switch-out's or
  // wakeup's at the switch-in. Nothing lost (docs/sched.md, "Switches this VM never traces"); a
  // wait closed at a switch-out has a slow event that knows no task that ran instead.
  uint64_t transitions_repaired = 0;
  uint64_t group_capacity = 0;
  SlowEvents slow;  // --slower / --slower-offcpu; !slow.enabled() without them
};

// Interval view: what happened between two cumulative snapshots. min/max come from buckets.
SchedSnapshot sched_snapshot_delta(const SchedSnapshot& now, const SchedSnapshot& before);

class SchedCollector {
 public:
  SchedCollector(SchedCollector&&) noexcept;
  SchedCollector& operator=(SchedCollector&&) noexcept;
  ~SchedCollector();

  // Opens the object, applies the config and the filter (rodata), chooses hooks.
  static Result<SchedCollector> open(const SchedConfig& cfg, const KernelFeatures& features);
  // Loads (verifier), seeds the `other` group. window: the run's, shared by every object of the
  // run (counting_window.hpp); null: this object keeps its own.
  Status load(const CountingWindow* window = nullptr);
  // Fills the filter maps and attaches every chosen hook; fails only when sched_switch could not
  // attach.
  Status attach();
  // Counting begins (the programs were held since open) and ends: the collector contract's
  // start() and stop(), the run's one window.
  void start();
  void stop();
  void detach();
  // Reads the cumulative aggregates now.
  Result<SchedSnapshot> read() const;

  // Slow events: `live` sees each one as it is read from the ring (set it before attach). The
  // reader is null without --slower/--slower-offcpu; the run loop drains it (add_to), and so does
  // drain_slow_events() (tests, and the end of a run).
  void on_slow_event(SlowEventLog::Live live);
  Status drain_slow_events();
  // The run loop's work: the slow events' ring, and the filter's sweep (core/filter_sweep.hpp).
  void add_to(RunLoop& loop);
  // Sweeps the filter once now (what the run loop does every second).
  uint64_t sweep_filter();

  const HookSet& hooks() const;
  // --by thread: each thread's statistics live in its own task storage, read through a task
  // iterator (bpf/sched_threads.bpf.h); false where the groups' maps keep them (see open()).
  bool threads_in_task_storage() const;
  HookKind flavour() const;
  bool uses_rq_clock() const;
  const SchedConfig& config() const;

 private:
  struct Impl;
  explicit SchedCollector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aitrace
