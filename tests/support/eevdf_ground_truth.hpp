// Helpers shared by the EEVDF trace tests: the eevdf_threads workload's report of the kernel's
// own accounting, and a decoded Perfetto trace file.
#pragma once

#include "aitrace/core/hooks.hpp"
#include "perfetto_trace.pb.h"

#include <bpf/btf.h>

#include <cstdint>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace aitrace::test {

// Does this kernel's BTF give `type` a member `member` (anonymous unions included)?
inline bool kernel_struct_has(const char* type, const char* member) {
  const btf* b = vmlinux_btf();
  if (!b) return false;
  int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
  if (id < 0) return false;
  const btf_type* t = btf__type_by_id(b, id);
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    const char* name = btf__name_by_offset(b, m->name_off);
    if (name && std::string(name) == member) return true;
    if (name && *name) continue;
    const btf_type* inner = btf__type_by_id(b, m->type);  // anonymous union/struct
    if (!inner || !(btf_is_union(inner) || btf_is_struct(inner))) continue;
    const btf_member* im = btf_members(inner);
    for (int j = 0; j < btf_vlen(inner); j++, im++) {
      const char* iname = btf__name_by_offset(b, im->name_off);
      if (iname && std::string(iname) == member) return true;
    }
  }
  return false;
}
// EEVDF (6.6+) and custom slices (6.12+), as the BPF program sees them.
inline bool kernel_is_eevdf() { return kernel_struct_has("sched_entity", "deadline"); }
inline bool kernel_has_custom_slice() { return kernel_struct_has("sched_entity", "custom_slice"); }

struct ThreadTruth {
  uint32_t tid = 0;
  uint64_t slice = 0, nr_switches = 0, nr_voluntary = 0, nr_involuntary = 0, sum_exec_ns = 0, weight = 0;
};

// name -> what /proc/thread-self/sched said when the thread finished.
inline std::map<std::string, ThreadTruth> read_thread_truth(const std::string& path) {
  std::map<std::string, ThreadTruth> out;
  std::ifstream f(path);
  std::string name;
  ThreadTruth t;
  while (f >> name >> t.tid >> t.slice >> t.nr_switches >> t.nr_voluntary >> t.nr_involuntary >> t.sum_exec_ns >>
         t.weight)
    out[name] = t;
  return out;
}

// Each bundle's compact_sched as the FtraceEvents it stands for, by the upstream importer's rules
// (src/trace_processor/importers/ftrace/ftrace_tokenizer.cc, TokenizeFtraceCompactSchedSwitch and
// ...Waking): in each array the first timestamp is absolute and each next one adds its delta
// (summed as int64); a comm is an index into the bundle's intern_table; the arrays of one kind
// have one entry per event. A compact switch has no prev task: it is the next task of the
// switch before it on that CPU (the importer's sorted order; whole switches count too), and the
// expanded event has no prev_pid then only on a CPU's first switch. False when an index is out of
// the table or the arrays' lengths differ (the importer's compact_sched_has_parse_errors).
inline bool expand_compact_sched(perfetto::protos::Trace* trace) {
  using perfetto::protos::FtraceEvent;
  std::map<uint32_t, std::optional<std::pair<int32_t, std::string>>> last_next;  // CPU -> pid and comm
  for (auto& p : *trace->mutable_packet()) {
    if (!p.has_ftrace_events()) continue;
    auto* b = p.mutable_ftrace_events();
    std::vector<FtraceEvent> events(b->event().begin(), b->event().end());
    const size_t whole = events.size();
    if (b->has_compact_sched()) {
      const auto& c = b->compact_sched();
      const auto& names = c.intern_table();
      const int n = c.switch_timestamp_size();
      if (c.switch_prev_state_size() != n || c.switch_next_pid_size() != n || c.switch_next_prio_size() != n ||
          c.switch_next_comm_index_size() != n)
        return false;
      int64_t ts = 0;
      for (int i = 0; i < n; i++) {
        ts += static_cast<int64_t>(c.switch_timestamp(i));
        if (c.switch_next_comm_index(i) >= static_cast<uint32_t>(names.size())) return false;
        FtraceEvent e;
        e.set_timestamp(static_cast<uint64_t>(ts));
        auto* sw = e.mutable_sched_switch();
        sw->set_prev_state(c.switch_prev_state(i));
        sw->set_next_pid(c.switch_next_pid(i));
        sw->set_next_prio(c.switch_next_prio(i));
        sw->set_next_comm(names[static_cast<int>(c.switch_next_comm_index(i))]);
        events.push_back(std::move(e));
      }
      const int w = c.waking_timestamp_size();
      if (c.waking_pid_size() != w || c.waking_target_cpu_size() != w || c.waking_prio_size() != w ||
          c.waking_comm_index_size() != w)
        return false;
      ts = 0;
      for (int i = 0; i < w; i++) {
        ts += static_cast<int64_t>(c.waking_timestamp(i));
        if (c.waking_comm_index(i) >= static_cast<uint32_t>(names.size())) return false;
        FtraceEvent e;
        e.set_timestamp(static_cast<uint64_t>(ts));
        auto* wk = e.mutable_sched_waking();
        wk->set_pid(c.waking_pid(i));
        wk->set_target_cpu(c.waking_target_cpu(i));
        wk->set_prio(c.waking_prio(i));
        wk->set_comm(names[static_cast<int>(c.waking_comm_index(i))]);
        wk->set_success(1);
        events.push_back(std::move(e));
      }
      b->clear_compact_sched();
    }
    // The importer sorts by time; equal times keep the file's order (whole events first).
    std::vector<size_t> order(events.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t z) { return events[a].timestamp() < events[z].timestamp(); });
    b->clear_event();
    auto& last = last_next[b->cpu()];
    for (size_t i : order) {
      FtraceEvent& e = events[i];
      if (e.has_sched_switch()) {
        auto* sw = e.mutable_sched_switch();
        if (i >= whole && last) {
          sw->set_prev_pid(last->first);
          sw->set_prev_comm(last->second);
        }
        last = std::make_pair(sw->next_pid(), sw->next_comm());
      }
      *b->add_event() = std::move(e);
    }
  }
  return true;
}

// A trace file, its compact sched events expanded (expand_compact_sched).
inline bool parse_trace_file(const std::string& path, perfetto::protos::Trace* trace) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return trace->ParseFromString(ss.str()) && expand_compact_sched(trace);
}

// The file a killed tracer left: its whole packets, decoded as Perfetto's own reader does
// (trace_processor's ProtoTraceTokenizer waits for the rest of a packet whose length runs past
// the data it has, so a torn last packet is never imported). A kill can tear one: write(2) to a
// file stops at a page boundary when SIGKILL arrives, mid-packet. `torn_bytes` gets the size of
// that tail. False when a whole packet does not decode, or the bytes are not a Trace's field 1.
inline bool parse_trace_prefix(const std::string& path, perfetto::protos::Trace* trace, size_t* torn_bytes) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string data = ss.str();
  auto varint = [&](size_t& at, uint64_t& v) {
    v = 0;
    for (int shift = 0; at < data.size() && shift < 64; shift += 7) {
      auto b = static_cast<uint8_t>(data[at++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  size_t at = 0;
  while (at < data.size()) {
    size_t start = at;
    uint64_t tag = 0, len = 0;
    bool whole_header = varint(at, tag) && varint(at, len);
    if (whole_header && tag != ((1u << 3) | 2u)) return false;  // TracePacket packet = 1 (length-delimited)
    if (!whole_header || len > data.size() - at) {
      *torn_bytes = data.size() - start;
      return expand_compact_sched(trace);
    }
    if (!trace->add_packet()->ParseFromArray(data.data() + at, static_cast<int>(len))) return false;
    at += len;
  }
  *torn_bytes = 0;
  return expand_compact_sched(trace);
}

struct TraceCounts {
  std::map<uint32_t, uint64_t> switch_outs;  // by prev_pid
  std::map<uint32_t, uint64_t> switch_ins;   // by next_pid
  std::map<uint32_t, std::string> thread_names;
  uint64_t switches = 0, wakings = 0, counters = 0;  // counters: values
  bool per_cpu_ordered = true;
  std::map<uint64_t, uint64_t> counter_values;  // count per counter track
};

inline TraceCounts count_trace(const perfetto::protos::Trace& trace) {
  TraceCounts c;
  std::map<uint32_t, uint64_t> last_ts;  // per CPU
  for (const auto& p : trace.packet()) {
    if (p.has_ftrace_events()) {
      uint32_t cpu = p.ftrace_events().cpu();
      for (const auto& e : p.ftrace_events().event()) {
        // A reused pid's end marker sits just before the new task started (perfetto_writer.cpp).
        if (e.has_sched_process_free()) continue;
        if (e.timestamp() < last_ts[cpu]) c.per_cpu_ordered = false;
        last_ts[cpu] = e.timestamp();
        if (e.has_sched_switch()) {
          c.switches++;
          c.switch_outs[static_cast<uint32_t>(e.sched_switch().prev_pid())]++;
          c.switch_ins[static_cast<uint32_t>(e.sched_switch().next_pid())]++;
        } else if (e.has_sched_waking()) {
          c.wakings++;
        }
      }
    }
    if (p.has_process_tree())
      for (const auto& t : p.process_tree().threads()) c.thread_names[static_cast<uint32_t>(t.tid())] = t.name();
    if (p.has_track_event()) {  // a value on its track, and the extra counter values
      const auto& te = p.track_event();
      c.counters += 1 + static_cast<uint64_t>(te.extra_counter_values_size());
      c.counter_values[te.track_uuid()]++;
      for (uint64_t uuid : te.extra_counter_track_uuids()) c.counter_values[uuid]++;
    }
  }
  return c;
}

// Each CPU's chain of switches, walked the way Perfetto's importer does
// (src/trace_processor/importers/ftrace/ftrace_sched_event_tracker.cc, PushSchedSwitch): after a
// CPU's first switch, a switch whose prev_pid is not the previous switch's next_pid on that CPU
// leaves the open slice unclosed and counts stats::mismatched_sched_switch_tids, an error stat
// (src/trace_processor/storage/stats.h). The importer sorts events by time first.
struct SwitchChains {
  struct Break {
    uint32_t cpu;
    uint64_t ts;
    int32_t last_next, prev;  // the previous switch's next_pid, this one's prev_pid
  };
  uint64_t switches = 0, mismatched = 0;
  std::string first_mismatch;  // "cpu C at T: prev_pid P after next_pid N"
  std::vector<Break> breaks;
  std::map<uint32_t, uint64_t> switches_per_cpu;
};

inline SwitchChains walk_switch_chains(const perfetto::protos::Trace& trace) {
  struct Switch {
    uint64_t ts;
    int32_t prev, next;
    size_t seq;  // order in the file: equal timestamps keep it
  };
  std::map<uint32_t, std::vector<Switch>> per_cpu;
  for (const auto& p : trace.packet())
    for (const auto& e : p.ftrace_events().event())
      if (e.has_sched_switch())
        per_cpu[p.ftrace_events().cpu()].push_back(
            {e.timestamp(), e.sched_switch().prev_pid(), e.sched_switch().next_pid(), per_cpu[p.ftrace_events().cpu()].size()});
  SwitchChains c;
  for (auto& [cpu, v] : per_cpu) {
    std::sort(v.begin(), v.end(),
              [](const Switch& a, const Switch& b) { return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq; });
    c.switches += v.size();
    c.switches_per_cpu[cpu] = v.size();
    for (size_t i = 1; i < v.size(); i++) {
      if (v[i].prev == v[i - 1].next) continue;
      c.breaks.push_back({cpu, v[i].ts, v[i - 1].next, v[i].prev});
      if (!c.mismatched++)
        c.first_mismatch = "cpu " + std::to_string(cpu) + " at " + std::to_string(v[i].ts) + ": prev_pid " +
                           std::to_string(v[i].prev) + " after next_pid " + std::to_string(v[i - 1].next);
    }
  }
  return c;
}

}  // namespace aitrace::test
