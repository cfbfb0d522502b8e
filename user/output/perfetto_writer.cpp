#include "aitrace/output/perfetto_writer.hpp"

#include "aitrace/core/proc_task.hpp"
#include "aitrace/output/escape.hpp"
#include "perfetto_trace.pb.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace aitrace {
namespace {

namespace pp = perfetto::protos;

// Sequence ids: one for track descriptors/events (they must share a sequence), one for the rest.
constexpr uint32_t kTrackSequence = 1;
constexpr uint32_t kSchedSequence = 2;
constexpr size_t kEventsPerBundle = 512;
constexpr size_t kCountersPending = 8192;
constexpr size_t kWriteChunk = 1 << 20;

// Track uuids: the kind in the top 16 bits (1: the thread, 2 + i: counter name i), the task's
// number in the low 48 (one per task, so a reused pid's new task has tracks of its own).
uint64_t thread_track_uuid(uint64_t task_number) { return (uint64_t{1} << 48) | task_number; }

// A task: its pid and start time (a reused pid starts later).
using TaskKey = std::pair<uint32_t, uint64_t>;

}  // namespace

struct PerfettoWriter::Impl {
  explicit Impl(OutputFile f) : file(std::move(f)) {}

  OutputFile file;
  std::string buf;  // whole serialized packets not yet written
  std::map<uint32_t, pp::FtraceEventBundle> bundles;
  struct PendingCounter {
    uint64_t ts, uuid;
    int64_t value;
    size_t seq;  // arrival order: equal timestamps keep it
  };
  std::vector<PendingCounter> counters;
  std::map<TaskKey, std::string> named_tasks;                // task -> the name last written
  std::unordered_map<uint32_t, std::set<uint64_t>> starts;  // pid -> start times of its tasks seen
  // Processes written to the process tree: tgid -> the start times of the leaders named (0: named
  // through another of its threads, before its leader showed).
  std::unordered_map<uint32_t, std::set<uint64_t>> named_processes;
  std::map<TaskKey, uint64_t> task_numbers;  // task -> its number in track uuids, from 1
  std::map<std::pair<uint64_t, std::string>, uint64_t> counter_tracks;  // (task number, name)
  std::vector<std::string> counter_names;  // index + 2 = the uuid's high bits
  bool track_sequence_started = false, sched_sequence_started = false;
  uint64_t packets = 0, bytes = 0;   // in the file
  // The packets in buf: where each ends, and the events in it and all before it in buf.
  std::vector<size_t> buf_ends;
  std::vector<uint64_t> buf_events;
  uint64_t events = 0, events_written = 0;   // events: sched ftrace events and counter values
  // The first write error. From then on the writer is stopped: the file keeps the whole packets
  // written before (OutputFile::write cuts a partial one off) and nothing more is written.
  Status error;
  bool stopped() const { return !error.ok(); }
  // An event handed to a stopped writer: counted as not written, not encoded.
  bool dropped() {
    if (!stopped()) return false;
    events++;
    return true;
  }

  void append(pp::TracePacket& p, uint32_t sequence, uint64_t nevents = 0) {
    p.set_trusted_packet_sequence_id(sequence);
    bool& started = sequence == kTrackSequence ? track_sequence_started : sched_sequence_started;
    if (!started) {
      p.set_sequence_flags(1);  // SEQ_INCREMENTAL_STATE_CLEARED: nothing earlier to depend on
      p.set_first_packet_on_sequence(true);
      started = true;
    }
    std::string s = p.SerializeAsString();
    // Trace.packet (field 1, length-delimited): tag, varint length, bytes.
    buf.push_back('\x0a');
    uint64_t n = s.size();
    do {
      uint8_t b = n & 0x7f;
      n >>= 7;
      buf.push_back(static_cast<char>(n ? (b | 0x80) : b));
    } while (n);
    buf += s;
    buf_ends.push_back(buf.size());
    buf_events.push_back((buf_events.empty() ? 0 : buf_events.back()) + nevents);
    if (buf.size() >= kWriteChunk) write_out();
  }

  void write_out() {
    if (buf.empty()) return;
    if (!stopped()) {
      const uint64_t before = file.size();
      error = file.write(buf, buf_ends);
      // After an error the file ends at a packet boundary: count the packets that are in it.
      const size_t kept = static_cast<size_t>(file.size() - before);
      const size_t whole =
          static_cast<size_t>(std::upper_bound(buf_ends.begin(), buf_ends.end(), kept) - buf_ends.begin());
      bytes += kept;
      packets += whole;
      if (whole) events_written += buf_events[whole - 1];
    }
    buf.clear();
    buf_ends.clear();
    buf_events.clear();
  }

  pp::FtraceEvent* event(uint32_t cpu, uint64_t ts, uint32_t pid) {
    events++;
    pp::FtraceEventBundle& b = bundles[cpu];
    if (static_cast<size_t>(b.event_size()) >= kEventsPerBundle) emit_bundle(cpu, b);
    b.set_cpu(cpu);
    pp::FtraceEvent* e = b.add_event();
    e->set_timestamp(ts);
    e->set_pid(pid);
    return e;
  }

  void emit_bundle(uint32_t cpu, pp::FtraceEventBundle& b) {
    if (!b.event_size()) return;
    pp::TracePacket p;
    uint64_t n = static_cast<uint64_t>(b.event_size());
    *p.mutable_ftrace_events() = std::move(b);
    p.mutable_ftrace_events()->set_cpu(cpu);
    append(p, kSchedSequence, n);
    b.Clear();
  }

  void emit_counters() {
    // Shards are drained one after the other: sort so each counter track is in time order.
    // (std::stable_sort's temporary buffer is deprecated in libstdc++ 12 under clang: a sequence
    // number gives the same order with std::sort.)
    std::sort(counters.begin(), counters.end(),
              [](const auto& a, const auto& b) { return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq; });
    for (const auto& c : counters) {
      pp::TracePacket p;
      p.set_timestamp(c.ts);
      auto* te = p.mutable_track_event();
      te->set_type(pp::TrackEvent::TYPE_COUNTER);
      te->set_track_uuid(c.uuid);
      te->set_counter_value(c.value);
      append(p, kTrackSequence, 1);
    }
    counters.clear();
  }

  // The task's number; its thread track is written with the first one.
  uint64_t thread_track(const PerfettoTask& t) {
    auto [it, inserted] = task_numbers.try_emplace({t.pid, t.start_time}, task_numbers.size() + 1);
    if (!inserted) return it->second;
    pp::TracePacket p;
    auto* td = p.mutable_track_descriptor();
    td->set_uuid(thread_track_uuid(it->second));
    td->mutable_thread()->set_pid(static_cast<int32_t>(t.tgid));
    td->mutable_thread()->set_tid(static_cast<int32_t>(t.pid));
    append(p, kTrackSequence);
    return it->second;
  }

  // A pid seen with a start time not seen before. Each of its tasks but the first ends just
  // before the next one started (the old task was reaped before its pid was handed out again):
  // a sched_process_free there makes Perfetto's importer end the old thread (EndThread in
  // src/trace_processor/importers/common/process_tracker.cc), so the new task's events start a
  // new one. Records reach us shard after shard, not in time order, hence the set.
  void note_task(uint32_t cpu, const PerfettoTask& t) {
    if (!t.pid || !t.start_time) return;
    std::set<uint64_t>& seen = starts[t.pid];
    if (!seen.insert(t.start_time).second) return;
    if (seen.size() > 1) {
      const uint64_t next_start = *seen.begin() == t.start_time ? *std::next(seen.begin()) : t.start_time;
      auto* fr = event(cpu, next_start - 1, 0)->mutable_sched_process_free();
      fr->set_pid(static_cast<int32_t>(t.pid));
    }
  }

  // A process's entry in the process tree, with its command line when /proc still has it.
  void add_process(pp::ProcessTree* tree, const PerfettoTask& t) {
    if (!t.tgid) return;
    const bool leader = t.pid == t.tgid;
    std::set<uint64_t>& named = named_processes[t.tgid];
    if (!leader) {
      if (!named.empty()) return;
      named.insert(0);
    } else {
      // A leader not named yet is a process of its own (a reused pid: another start time),
      // unless the process was named through one of its threads before: that entry stands.
      if (named.count(t.start_time)) return;
      const bool through_thread = named.erase(0) > 0;
      named.insert(t.start_time);
      if (through_thread) return;
    }
    auto* proc = tree->add_processes();
    proc->set_pid(static_cast<int32_t>(t.tgid));
    if (auto argv = task_cmdline(t.tgid, t.pid, t.start_time)) {
      for (const auto& arg : *argv) proc->add_cmdline(sanitize_utf8(arg));
    } else if (leader && !t.comm.empty()) {
      proc->add_cmdline(sanitize_utf8(t.comm));  // gone already, or a kernel thread
    }
  }
};

PerfettoWriter::PerfettoWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PerfettoWriter::~PerfettoWriter() = default;

Result<std::unique_ptr<PerfettoWriter>> PerfettoWriter::create(const std::string& path) {
  auto f = OutputFile::create(path);
  if (!f) return f.error();
  return std::unique_ptr<PerfettoWriter>(new PerfettoWriter(std::make_unique<Impl>(std::move(f.value()))));
}

void PerfettoWriter::system_info() {
  if (impl_->stopped()) return;
  pp::TracePacket p;
  auto* si = p.mutable_system_info();
  struct utsname u {};
  if (uname(&u) == 0) {
    si->mutable_utsname()->set_sysname(sanitize_utf8(u.sysname));
    si->mutable_utsname()->set_version(sanitize_utf8(u.version));
    si->mutable_utsname()->set_release(sanitize_utf8(u.release));
    si->mutable_utsname()->set_machine(sanitize_utf8(u.machine));
  }
  long n = sysconf(_SC_NPROCESSORS_CONF);
  if (n > 0) si->set_num_cpus(static_cast<uint32_t>(n));
  impl_->append(p, kSchedSequence);
}

void PerfettoWriter::thread_name(uint32_t cpu, uint64_t ts, const PerfettoTask& t) {
  if (!t.pid || impl_->stopped()) return;
  impl_->note_task(cpu, t);
  // Threads rename themselves (pthread_setname_np after clone): a new name is a new entry.
  auto [it, inserted] = impl_->named_tasks.try_emplace({t.pid, t.start_time}, t.comm);
  if (!inserted) {
    if (it->second == t.comm) return;
    it->second = std::string(t.comm);
  }
  pp::TracePacket p;
  p.set_timestamp(ts);
  auto* tree = p.mutable_process_tree();
  impl_->add_process(tree, t);
  auto* th = tree->add_threads();
  th->set_tid(static_cast<int32_t>(t.pid));
  if (t.tgid) th->set_tgid(static_cast<int32_t>(t.tgid));
  th->set_name(sanitize_utf8(t.comm));
  impl_->append(p, kSchedSequence);
}

void PerfettoWriter::sched_switch(uint32_t cpu, uint64_t ts, const PerfettoTask& prev, int64_t prev_state,
                                  const PerfettoTask& next) {
  if (impl_->dropped()) return;
  auto* sw = impl_->event(cpu, ts, prev.pid)->mutable_sched_switch();
  sw->set_prev_comm(sanitize_utf8(prev.comm));
  sw->set_prev_pid(static_cast<int32_t>(prev.pid));
  sw->set_prev_prio(prev.prio);
  sw->set_prev_state(prev_state);
  sw->set_next_comm(sanitize_utf8(next.comm));
  sw->set_next_pid(static_cast<int32_t>(next.pid));
  sw->set_next_prio(next.prio);
}

void PerfettoWriter::sched_waking(uint32_t cpu, uint64_t ts, uint32_t current_pid, const PerfettoTask& wakee,
                                  uint32_t target_cpu) {
  if (impl_->dropped()) return;
  auto* w = impl_->event(cpu, ts, current_pid)->mutable_sched_waking();
  w->set_comm(sanitize_utf8(wakee.comm));
  w->set_pid(static_cast<int32_t>(wakee.pid));
  w->set_prio(wakee.prio);
  w->set_success(1);
  w->set_target_cpu(static_cast<int32_t>(target_cpu));
}

void PerfettoWriter::sched_wakeup_new(uint32_t cpu, uint64_t ts, uint32_t current_pid, const PerfettoTask& task,
                                      uint32_t target_cpu) {
  if (impl_->dropped()) return;
  auto* w = impl_->event(cpu, ts, current_pid)->mutable_sched_wakeup_new();
  w->set_comm(sanitize_utf8(task.comm));
  w->set_pid(static_cast<int32_t>(task.pid));
  w->set_prio(task.prio);
  w->set_success(1);
  w->set_target_cpu(static_cast<int32_t>(target_cpu));
}

void PerfettoWriter::counter(uint64_t ts, const PerfettoTask& t, std::string_view name, CounterUnit unit,
                             int64_t value) {
  if (impl_->dropped()) return;
  const uint64_t task = impl_->thread_track(t);
  auto key = std::make_pair(task, std::string(name));
  auto it = impl_->counter_tracks.find(key);
  if (it == impl_->counter_tracks.end()) {
    auto& names = impl_->counter_names;
    size_t idx = std::find(names.begin(), names.end(), key.second) - names.begin();
    if (idx == names.size()) names.push_back(key.second);
    uint64_t uuid = (uint64_t{idx + 2} << 48) | task;
    pp::TracePacket p;
    auto* td = p.mutable_track_descriptor();
    td->set_uuid(uuid);
    td->set_parent_uuid(thread_track_uuid(task));
    td->set_name(sanitize_utf8(name));
    if (unit == CounterUnit::wall_ns)
      td->mutable_counter()->set_unit(pp::CounterDescriptor::UNIT_TIME_NS);
    else
      td->mutable_counter()->set_unit_name("virtual ns");  // no built-in unit says it
    impl_->append(p, kTrackSequence);
    it = impl_->counter_tracks.emplace(std::move(key), uuid).first;
  }
  impl_->events++;
  impl_->counters.push_back({ts, it->second, value, impl_->counters.size()});
  if (impl_->counters.size() >= kCountersPending) impl_->emit_counters();
}

Status PerfettoWriter::flush(bool durable) {
  if (impl_->stopped()) return impl_->error;
  for (auto& [cpu, b] : impl_->bundles) impl_->emit_bundle(cpu, b);
  impl_->emit_counters();
  impl_->write_out();
  AITRACE_TRY(impl_->error);
  // A failed fdatasync (EIO, or ENOSPC where space is allocated late) leaves the written data in
  // doubt: the writer stops there too.
  if (durable) impl_->error = impl_->file.flush();
  return impl_->error;
}

Status PerfettoWriter::finish() {
  Status st = flush(false);
  // A stopped trace is renamed into place too: the packets written before the error are a
  // valid trace, and the error (returned) says why it ends early.
  Status committed = impl_->file.commit();
  return st.ok() ? committed : st;
}

const Status& PerfettoWriter::failure() const { return impl_->error; }
uint64_t PerfettoWriter::events_not_written() const { return impl_->events - impl_->events_written; }

uint64_t PerfettoWriter::packets_written() const { return impl_->packets; }
uint64_t PerfettoWriter::bytes_written() const { return impl_->bytes; }
const std::string& PerfettoWriter::path() const { return impl_->file.path(); }

}  // namespace aitrace
