#include "aitrace/sched/sched_slow_events.hpp"

#include "aitrace/core/clock_sample.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace aitrace {
namespace {

// CLOCK_REALTIME - CLOCK_BOOTTIME, from one pair that names one moment (core/clock_sample.hpp).
int64_t clock_offset() {
  const ClockSample s = sample_clocks();
  return s.unix_ns - static_cast<int64_t>(s.boot_ns);
}

// Local time of day with milliseconds, as runqslower and the interval headers print it.
std::string time_of_day(uint64_t unix_ns) {
  const auto secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  tm local{};
  localtime_r(&secs, &local);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &local);
  return fmt::format("{}.{:03}", buf, unix_ns / 1'000'000 % 1000);
}

bool prev_known(const SlowEvent& e) { return !e.prev_comm.empty(); }

std::string thresholds_text(const SlowEvents& s) {
  std::string out;
  if (s.runq_threshold_ns) out += fmt::format("run-queue waits >= {}", format_ns(s.runq_threshold_ns));
  if (s.offcpu_threshold_ns)
    out += fmt::format("{}off-CPU (sleep, block) >= {}", out.empty() ? "" : ", ", format_ns(s.offcpu_threshold_ns));
  return out;
}

}  // namespace

SlowEvents slow_events_delta(const SlowEvents& now, const SlowEvents& before) {
  SlowEvents out = now;
  out.events.clear();
  out.total = now.last_seq - std::min(now.last_seq, before.last_seq);
  for (const SlowEvent& e : now.events)
    if (e.seq > before.last_seq) out.events.push_back(e);
  return out;
}

SlowEventLog::SlowEventLog(uint64_t runq_threshold_ns, uint64_t offcpu_threshold_ns, size_t keep, Live live)
    : boot_to_unix_ns_(clock_offset()), live_(std::move(live)) {
  base_.runq_threshold_ns = runq_threshold_ns;
  base_.offcpu_threshold_ns = offcpu_threshold_ns;
  base_.keep = keep;
}

void SlowEventLog::on_record(std::span<const std::byte> record) {
  aitrace_sched_slow_event r{};
  if (record.size() < sizeof(r)) {
    malformed_++;
    return;
  }
  std::memcpy(&r, record.data(), sizeof(r));
  SlowEvent e;
  e.seq = ++seq_;
  e.boot_ns = r.boot_ns;
  e.unix_ns = static_cast<uint64_t>(static_cast<int64_t>(r.boot_ns) + boot_to_unix_ns_);
  e.wait_ns = r.wait_ns;
  e.prev_ran_ns = r.other_ran_ns;
  e.pid = r.pid;
  e.tid = r.tid;
  e.cpu = r.cpu;
  e.metric = r.metric;
  e.prev_pid = r.other_pid;
  e.prev_tid = r.other_tid;
  e.comm = std::string(kernel_string(r.comm, sizeof(r.comm)));
  e.prev_comm = std::string(kernel_string(r.other_comm, sizeof(r.other_comm)));
  e.holder_ns = r.holder_ns;
  e.holder_pid = r.holder_pid;
  e.holder_tid = r.holder_tid;
  e.holder_comm = std::string(kernel_string(r.holder_comm, sizeof(r.holder_comm)));
  e.holder_partial = r.holder_partial != 0;
  if (live_) live_(e);
  if (base_.keep == 0) return;
  if (kept_.size() == base_.keep) kept_.pop_front();
  kept_.push_back(std::move(e));
}

SlowEvents SlowEventLog::read() const {
  SlowEvents s = base_;
  s.last_seq = seq_;
  s.total = seq_;
  s.events.assign(kept_.begin(), kept_.end());
  return s;
}

const char* slow_event_kind_text(uint32_t metric) {
  switch (metric) {
    case AITRACE_SCHED_RUNQ_WAKEUP:
      return "wakeup";
    case AITRACE_SCHED_RUNQ_PREEMPT:
      return "preempt";
    case AITRACE_SCHED_OFFCPU_SLEEP:
      return "sleep";
    case AITRACE_SCHED_OFFCPU_BLOCK:
      return "block";
    default:
      return "?";
  }
}

// PREV is the task switched out for the waiter (wakeup, preempt) or the waker (sleep, block);
// HOLDER the task that held the CPU longest during a run-queue wait, HELD_US for how long ("?"
// after it: the wait began before the stretches remembered, an earlier one may be longer).
constexpr const char* kLineFormat = "{:<12} {:>13} {:>3} {:>7} {:>7} {:<16} {:<7} {:>9} {:>7} {:<16} {:>7} {:<16} {:>9}\n";

std::string slow_event_header(const SlowEvents& config) {
  return fmt::format("slow events: {}\n", thresholds_text(config)) +
         fmt::format(fmt::runtime(kLineFormat), "TIME", "BOOT_S", "CPU", "PID", "TID", "COMM", "KIND", "WAIT_US",
                     "PREV", "PREV_COMM", "HOLDER", "HOLDER_COMM", "HELD_US");
}

std::string slow_event_line(const SlowEvent& e) {
  const bool prev = prev_known(e), holder = e.holder_ns != 0;
  return fmt::format(fmt::runtime(kLineFormat), time_of_day(e.unix_ns),
                     fmt::format("{:.6f}", static_cast<double>(e.boot_ns) / 1e9), e.cpu, e.pid, e.tid,
                     escape_text(e.comm), slow_event_kind_text(e.metric), e.wait_ns / 1000,
                     prev ? fmt::format("{}", e.prev_tid) : "-", prev ? escape_text(e.prev_comm) : "-",
                     holder ? fmt::format("{}", e.holder_tid) : "-", holder ? escape_text(e.holder_comm) : "-",
                     holder ? fmt::format("{}{}", e.holder_ns / 1000, e.holder_partial ? "?" : "") : "-");
}

std::string slow_events_text(const SlowEvents& s, uint64_t lost, bool list_events) {
  if (!s.enabled()) return "";
  std::string out = fmt::format("slow events ({}): {}", thresholds_text(s), s.total);
  if (lost) out += fmt::format(", {} lost (ring full)", lost);
  if (!list_events) return out + "\n";
  if (s.not_kept()) out += fmt::format(", the last {} listed", s.events.size());
  out += "\n";
  if (s.events.empty()) return out;
  std::string table = slow_event_header(s);
  out += table.substr(table.find('\n') + 1);  // the column line only
  for (const SlowEvent& e : s.events) out += slow_event_line(e);
  return out;
}

void slow_events_json(nlohmann::json& doc, const SlowEvents& s) {
  if (!s.enabled()) return;
  nlohmann::json events = nlohmann::json::array();
  for (const SlowEvent& e : s.events) {
    const bool prev = prev_known(e), holder = e.holder_ns != 0;
    events.push_back({
        {"seq", e.seq},
        {"unix_ns", e.unix_ns},
        {"boot_ns", e.boot_ns},
        {"cpu", e.cpu},
        {"pid", e.pid},
        {"tid", e.tid},
        {"comm", sanitize_utf8(e.comm)},
        {"kind", kSchedMetricNames[e.metric < AITRACE_SCHED_METRICS ? e.metric : 0]},
        {"wait_ns", e.wait_ns},
        {"prev_pid", prev ? nlohmann::json(e.prev_pid) : nlohmann::json(nullptr)},
        {"prev_tid", prev ? nlohmann::json(e.prev_tid) : nlohmann::json(nullptr)},
        {"prev_comm", prev ? nlohmann::json(sanitize_utf8(e.prev_comm)) : nlohmann::json(nullptr)},
        {"prev_ran_ns", e.prev_ran_ns ? nlohmann::json(e.prev_ran_ns) : nlohmann::json(nullptr)},
        {"holder_pid", holder ? nlohmann::json(e.holder_pid) : nlohmann::json(nullptr)},
        {"holder_tid", holder ? nlohmann::json(e.holder_tid) : nlohmann::json(nullptr)},
        {"holder_comm", holder ? nlohmann::json(sanitize_utf8(e.holder_comm)) : nlohmann::json(nullptr)},
        {"holder_ns", holder ? nlohmann::json(e.holder_ns) : nlohmann::json(nullptr)},
        {"holder_partial", e.holder_partial},
    });
  }
  doc["slow_events"] = std::move(events);
  doc["slow_events_summary"] = {
      {"runq_threshold_ns", s.runq_threshold_ns}, {"offcpu_threshold_ns", s.offcpu_threshold_ns},
      {"total", s.total},                         {"not_kept", s.not_kept()},
      {"keep", s.keep},
  };
}

}  // namespace aitrace
