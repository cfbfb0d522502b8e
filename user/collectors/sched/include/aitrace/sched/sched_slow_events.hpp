// Slow events (`aitrace sched --slower D`, `--slower-offcpu D`): the waits at or over a threshold,
// one record each from bpf/sched_slow.bpf.h. The log keeps the most recent N for the JSON
// documents and counts the rest; in text each event is also printed as it arrives, one line,
// runqslower style.
#pragma once

#include "aitrace/sched_slow_events.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace aitrace {

inline constexpr size_t kSlowEventsKeptDefault = 1000;

struct SlowEvent {
  uint64_t seq = 0;      // 1, 2, ... in arrival order since attach
  uint64_t boot_ns = 0;  // CLOCK_BOOTTIME when the wait ended
  uint64_t unix_ns = 0;  // the same moment on CLOCK_REALTIME
  uint64_t wait_ns = 0;
  uint64_t prev_ran_ns = 0;  // how long prev held the CPU (run-queue kinds; 0: unknown)
  uint32_t pid = 0, tid = 0, cpu = 0, prev_pid = 0, prev_tid = 0;
  uint32_t metric = 0;    // enum aitrace_sched_metric
  std::string comm;       // raw kernel bytes; escape when printing
  std::string prev_comm;  // run-queue kinds: the task switched out; off-CPU kinds: the waker
  // Run-queue kinds: the task that held the CPU longest during the wait (of the CPU's last 16
  // stretches) and how long; holder_ns 0: none known. partial: the wait began before those 16.
  uint64_t holder_ns = 0;
  uint32_t holder_pid = 0, holder_tid = 0;
  std::string holder_comm;
  bool holder_partial = false;
};

// The slow events of one report: since attach (a read) or of one interval (a delta).
struct SlowEvents {
  uint64_t runq_threshold_ns = 0;    // --slower; 0: off
  uint64_t offcpu_threshold_ns = 0;  // --slower-offcpu; 0: off
  size_t keep = kSlowEventsKeptDefault;
  uint64_t last_seq = 0;  // sequence number of the last event received (cumulative)
  uint64_t total = 0;     // events received in this window
  std::vector<SlowEvent> events;  // the most recent of them, at most `keep`, oldest first

  bool enabled() const { return runq_threshold_ns || offcpu_threshold_ns; }
  uint64_t not_kept() const { return total - events.size(); }
};

// The events of `now` that came after `before` (its last_seq).
SlowEvents slow_events_delta(const SlowEvents& now, const SlowEvents& before);

// The ring's records into SlowEvents: decoded, times put on the real-time clock, the most recent
// `keep` kept, and each one handed to `live` (text output prints it) as it arrives.
class SlowEventLog {
 public:
  using Live = std::function<void(const SlowEvent&)>;
  SlowEventLog(uint64_t runq_threshold_ns, uint64_t offcpu_threshold_ns, size_t keep, Live live = {});

  void on_record(std::span<const std::byte> record);
  SlowEvents read() const;  // cumulative
  uint64_t malformed() const { return malformed_; }

 private:
  SlowEvents base_;  // thresholds and keep
  std::deque<SlowEvent> kept_;
  uint64_t seq_ = 0;
  uint64_t malformed_ = 0;
  int64_t boot_to_unix_ns_ = 0;  // CLOCK_REALTIME - CLOCK_BOOTTIME, read once at start
  Live live_;
};

// "wakeup", "preempt", "sleep", "block": the kind as the text line names it.
const char* slow_event_kind_text(uint32_t metric);
// The header and one line per event (text output, as events arrive).
std::string slow_event_header(const SlowEvents& config);
std::string slow_event_line(const SlowEvent& e);
// The report's section: thresholds, counts and (when the events were not printed as they came)
// the kept events.
std::string slow_events_text(const SlowEvents& s, uint64_t lost, bool list_events);
// The keys a JSON document gets: slow_events (array) and its counts.
void slow_events_json(nlohmann::json& doc, const SlowEvents& s);

}  // namespace aitrace
