#include "perfetto_compact_sched.hpp"

#include "aitrace/output/escape.hpp"
#include "proto_wire.hpp"

namespace aitrace {
namespace {

// FtraceEventBundle and its CompactSched (protos/perfetto/trace/ftrace/ftrace_event_bundle.proto).
enum : uint32_t { kBundleCpu = 1, kBundleCompactSched = 4 };
enum : uint32_t {
  kSwitchTimestamp = 1,
  kSwitchPrevState = 2,
  kSwitchNextPid = 3,
  kSwitchNextPrio = 4,
  kInternTable = 5,
  kSwitchNextCommIndex = 6,
  kWakingTimestamp = 7,
  kWakingPid = 8,
  kWakingTargetCpu = 9,
  kWakingPrio = 10,
  kWakingCommIndex = 11,
};

// The first timestamp of a bundle's array is absolute, each next one the delta from the one
// before. Records of one CPU come in time order; were one earlier, the delta wraps around, and
// the importer's int64 sum of the deltas (ftrace_tokenizer.cc) still gives its time.
uint64_t delta(uint64_t ts, uint64_t& last) {
  const uint64_t d = ts - last;
  last = ts;
  return d;
}

}  // namespace

uint32_t CompactSchedBundle::intern(std::string_view comm) {
  auto it = index_.find(comm);
  if (it != index_.end()) return it->second;
  const auto i = static_cast<uint32_t>(intern_.size());
  intern_.push_back(sanitize_utf8(comm));
  index_.emplace(std::string(comm), i);
  return i;
}

void CompactSchedBundle::sched_switch(uint64_t ts, int64_t prev_state, uint32_t next_pid, int32_t next_prio,
                                      std::string_view next_comm) {
  wire::varint(switch_ts_, delta(ts, last_switch_ts_));
  wire::varint(switch_state_, static_cast<uint64_t>(prev_state));
  wire::varint(switch_pid_, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(next_pid))));
  wire::varint(switch_prio_, static_cast<uint64_t>(static_cast<int64_t>(next_prio)));
  wire::varint(switch_comm_, intern(next_comm));
  events_++;
}

void CompactSchedBundle::sched_waking(uint64_t ts, uint32_t pid, int32_t prio, std::string_view comm,
                                      uint32_t target_cpu) {
  wire::varint(waking_ts_, delta(ts, last_waking_ts_));
  wire::varint(waking_pid_, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(pid))));
  wire::varint(waking_cpu_, target_cpu);
  wire::varint(waking_prio_, static_cast<uint64_t>(static_cast<int64_t>(prio)));
  wire::varint(waking_comm_, intern(comm));
  events_++;
}

perfetto::protos::FtraceEvent* CompactSchedBundle::event(uint64_t ts, uint32_t pid) {
  auto* e = others_.add_event();
  e->set_timestamp(ts);
  e->set_pid(pid);
  events_++;
  return e;
}

void CompactSchedBundle::encode(uint32_t cpu, std::string& out) {
  wire::varint_field(out, kBundleCpu, cpu);
  others_.AppendToString(&out);  // its events (field 2): a message's fields may come in any order
  if (!intern_.empty()) {
    std::string& c = scratch_;
    c.clear();
    for (const std::string& s : intern_) wire::bytes_field(c, kInternTable, s);
    wire::packed_field(c, kSwitchTimestamp, switch_ts_);
    wire::packed_field(c, kSwitchPrevState, switch_state_);
    wire::packed_field(c, kSwitchNextPid, switch_pid_);
    wire::packed_field(c, kSwitchNextPrio, switch_prio_);
    wire::packed_field(c, kSwitchNextCommIndex, switch_comm_);
    wire::packed_field(c, kWakingTimestamp, waking_ts_);
    wire::packed_field(c, kWakingPid, waking_pid_);
    wire::packed_field(c, kWakingTargetCpu, waking_cpu_);
    wire::packed_field(c, kWakingPrio, waking_prio_);
    wire::packed_field(c, kWakingCommIndex, waking_comm_);
    wire::bytes_field(out, kBundleCompactSched, c);
  }
  index_.clear();
  intern_.clear();
  for (std::string* s : {&switch_ts_, &switch_state_, &switch_pid_, &switch_prio_, &switch_comm_, &waking_ts_,
                         &waking_pid_, &waking_cpu_, &waking_prio_, &waking_comm_})
    s->clear();
  last_switch_ts_ = last_waking_ts_ = 0;
  others_.Clear();
  events_ = 0;
}

}  // namespace aitrace
