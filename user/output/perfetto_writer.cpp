#include "aitrace/output/perfetto_writer.hpp"

#include "aitrace/core/proc_task.hpp"
#include "aitrace/output/escape.hpp"
#include "perfetto_compact_sched.hpp"
#include "perfetto_trace.pb.h"
#include "proto_wire.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
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
// A bundle's intern table and delta timestamps pay off over many events; Perfetto's own
// bundles hold one kernel page's worth (about 100 switches). Bigger means fewer packets.
constexpr size_t kEventsPerBundle = 2048;
constexpr size_t kCountersPending = 8192;
constexpr size_t kWriteChunk = 1 << 20;

// Track uuids: the task's number (one per task, so a reused pid's new task has tracks of its
// own) shifted left by 3, or'ed with the kind (0: the thread, 1 + i: counter name i). Small
// numbers: a uuid is a varint in every counter packet.
constexpr size_t kCounterKinds = 7;
uint64_t thread_track_uuid(uint64_t task_number) { return task_number << 3; }
uint64_t counter_track_uuid(uint64_t task_number, size_t kind) { return (task_number << 3) | (kind + 1); }

// A task: its pid and start time (a reused pid starts later).
using TaskKey = std::pair<uint32_t, uint64_t>;
struct TaskKeyHash {
  size_t operator()(const TaskKey& k) const { return std::hash<uint64_t>{}(k.second * 0x9e3779b97f4a7c15ull ^ k.first); }
};

// TracePacket and TrackEvent fields (protos/perfetto/trace/trace_packet.proto, track_event.proto).
enum : uint32_t {
  kPacketFtraceEvents = 1,
  kPacketTimestamp = 8,
  kPacketSequenceId = 10,
  kPacketTrackEvent = 11,
  kPacketSequenceFlags = 13,
  kPacketFirstOnSequence = 87,
  kEventExtraCounterValues = 12,
  kEventType = 9,
  kEventTrackUuid = 11,
  kEventCounterValue = 30,
  kEventExtraCounterTrackUuids = 31,
};
constexpr uint64_t kTypeCounter = 4;  // TrackEvent.TYPE_COUNTER

}  // namespace

struct PerfettoWriter::Impl {
  explicit Impl(OutputFile f) : file(std::move(f)) {}

  OutputFile file;
  std::string buf;  // whole serialized packets not yet written
  std::map<uint32_t, CompactSchedBundle> bundles;
  // The values of one task's counters at one time: one packet.
  struct PendingCounters {
    uint64_t ts;
    uint8_t n;
    uint64_t uuids[kCounterKinds];
    int64_t values[kCounterKinds];
  };
  std::vector<PendingCounters> counters;
  std::vector<std::pair<uint64_t, size_t>> order;  // (time, index): equal times keep arrival order
  std::string scratch, scratch_event;
  std::unordered_map<uint32_t, uint32_t> last_next;  // CPU -> the next pid of its last switch
  uint64_t chain_breaks = 0;  // switches whose prev was not the CPU's last next
  std::unordered_map<TaskKey, std::string, TaskKeyHash> named_tasks;  // task -> the name last written
  std::unordered_map<uint32_t, std::set<uint64_t>> starts;  // pid -> start times of its tasks seen
  // Processes written to the process tree: tgid -> the start times of the leaders named (0: named
  // through another of its threads, before its leader showed).
  std::unordered_map<uint32_t, std::set<uint64_t>> named_processes;
  struct TaskTracks {
    uint64_t number = 0;               // the task's number in track uuids, from 1
    uint8_t counters_described = 0;    // a bit per counter kind whose track is written
  };
  std::unordered_map<TaskKey, TaskTracks, TaskKeyHash> task_tracks;
  uint64_t tasks_numbered = 0;
  // Exited tasks, oldest first: the last kKeepExitedTasks keep their state for their records still
  // in other CPUs' rings; older ones are forgotten (forget()), so the state follows the live tasks.
  struct ExitedTask {
    TaskKey key;
    uint32_t tgid;
  };
  std::deque<ExitedTask> exited_tasks;
  std::vector<std::string> counter_names;  // index + 1 = the uuid's low bits
  std::vector<const char*> counter_name_data;  // the name's address as first passed, by index
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
    p.SerializeToString(&scratch);
    append_raw(scratch, sequence, nevents);
  }

  // A packet's fields, encoded, and the sequence's fields added here.
  void append_raw(std::string_view body, uint32_t sequence, uint64_t nevents) {
    wire::Stack<16> seq;
    seq.varint_field(kPacketSequenceId, sequence);
    bool& started = sequence == kTrackSequence ? track_sequence_started : sched_sequence_started;
    if (!started) {
      seq.varint_field(kPacketSequenceFlags, 1);  // SEQ_INCREMENTAL_STATE_CLEARED: nothing earlier to depend on
      seq.varint_field(kPacketFirstOnSequence, 1);
      started = true;
    }
    wire::tag(buf, 1, wire::kBytes);  // Trace.packet
    wire::varint(buf, body.size() + seq.view().size());
    buf.append(body);
    buf.append(seq.view());
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

  // The CPU's bundle, with room for one more event.
  CompactSchedBundle& bundle(uint32_t cpu) {
    events++;
    CompactSchedBundle& b = bundles[cpu];
    if (b.events() >= kEventsPerBundle) emit_bundle(cpu, b);
    return b;
  }

  void emit_bundle(uint32_t cpu, CompactSchedBundle& b) {
    if (!b.events()) return;
    const uint64_t n = b.events();
    scratch_event.clear();
    b.encode(cpu, scratch_event);
    scratch.clear();
    wire::bytes_field(scratch, kPacketFtraceEvents, scratch_event);
    append_raw(scratch, kSchedSequence, n);
  }

  void emit_counters() {
    // Shards are drained one after the other: sort so each counter track is in time order.
    // (std::stable_sort's temporary buffer is deprecated in libstdc++ 12 under clang: the index
    // in the key gives the same order with std::sort.)
    // The keys are sorted, not the 136-byte entries: moving those was most of the sort's time.
    order.clear();
    for (size_t i = 0; i < counters.size(); i++) order.emplace_back(counters[i].ts, i);
    std::sort(order.begin(), order.end());
    // One TYPE_COUNTER event: the first value on its track, the others as extra counter values
    // (all at the packet's time; track_event_tokenizer.cc, AddExtraCounterValues).
    for (const auto& [ts, i] : order) {
      const PendingCounters& c = counters[i];
      wire::Stack<256> e;
      e.varint_field(kEventType, kTypeCounter);
      e.varint_field(kEventTrackUuid, c.uuids[0]);
      e.int_field(kEventCounterValue, c.values[0]);
      for (uint8_t i = 1; i < c.n; i++) e.varint_field(kEventExtraCounterTrackUuids, c.uuids[i]);
      for (uint8_t i = 1; i < c.n; i++) e.int_field(kEventExtraCounterValues, c.values[i]);
      wire::Stack<288> packet;
      packet.varint_field(kPacketTimestamp, c.ts);
      packet.bytes_field(kPacketTrackEvent, e.view());
      append_raw(packet.view(), kTrackSequence, c.n);
    }
    counters.clear();
  }

  // The task's tracks; its thread track is written when it gets its number.
  TaskTracks& thread_track(const PerfettoTask& t) {
    auto [it, inserted] = task_tracks.try_emplace({t.pid, t.start_time});
    if (!inserted) return it->second;
    it->second.number = ++tasks_numbered;
    pp::TracePacket p;
    auto* td = p.mutable_track_descriptor();
    td->set_uuid(thread_track_uuid(it->second.number));
    td->mutable_thread()->set_pid(static_cast<int32_t>(t.tgid));
    td->mutable_thread()->set_tid(static_cast<int32_t>(t.pid));
    append(p, kTrackSequence);
    return it->second;
  }

  // An exited task's names and track numbers, once kKeepExitedTasks later tasks exited. Of its
  // pid's start times the latest stays, so a later task on the pid still gets its
  // sched_process_free (note_task). A record of it decoded even later only writes its thread
  // name and a thread track again.
  void forget(const ExitedTask& e) {
    named_tasks.erase(e.key);
    task_tracks.erase(e.key);
    keep_latest(starts, e.key.first, e.key.second);
    if (e.key.first == e.tgid) keep_latest(named_processes, e.tgid, e.key.second);  // a leader: its process
  }

  // Drops `start` from id's start times unless it is the latest one.
  static void keep_latest(std::unordered_map<uint32_t, std::set<uint64_t>>& m, uint32_t id, uint64_t start) {
    auto it = m.find(id);
    if (it != m.end() && it->second.size() > 1 && *it->second.rbegin() != start) it->second.erase(start);
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
      auto* fr = bundle(cpu).event(next_start - 1, 0)->mutable_sched_process_free();
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
  // Called for both tasks of every switch: a task seen before under the same name costs one
  // lookup. A task not seen before is a new start time for its pid (note_task).
  auto it = impl_->named_tasks.find({t.pid, t.start_time});
  if (it != impl_->named_tasks.end()) {
    // Threads rename themselves (pthread_setname_np after clone): a new name is a new entry.
    if (it->second == t.comm) return;
    it->second = std::string(t.comm);
  } else {
    impl_->note_task(cpu, t);
    impl_->named_tasks.emplace(TaskKey{t.pid, t.start_time}, std::string(t.comm));
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

// The compact form has no prev task: the importer takes the previous switch's next task on
// this CPU (perfetto_compact_sched.hpp). Where that is not prev (the CPU's first switch, a lost
// record, a switch the kernel did not report), the switch is written whole, with prev, so the
// trace says what was recorded and the importer counts the break as it would in any trace.
void PerfettoWriter::sched_switch(uint32_t cpu, uint64_t ts, const PerfettoTask& prev, int64_t prev_state,
                                  const PerfettoTask& next) {
  if (impl_->dropped()) return;
  auto [last, first] = impl_->last_next.try_emplace(cpu, next.pid);
  const bool chained = !first && last->second == prev.pid;
  last->second = next.pid;
  if (chained) {
    impl_->bundle(cpu).sched_switch(ts, prev_state, next.pid, next.prio, next.comm);
    return;
  }
  if (!first) impl_->chain_breaks++;
  auto* sw = impl_->bundle(cpu).event(ts, prev.pid)->mutable_sched_switch();
  sw->set_prev_comm(sanitize_utf8(prev.comm));
  sw->set_prev_pid(static_cast<int32_t>(prev.pid));
  sw->set_prev_prio(prev.prio);
  sw->set_prev_state(prev_state);
  sw->set_next_comm(sanitize_utf8(next.comm));
  sw->set_next_pid(static_cast<int32_t>(next.pid));
  sw->set_next_prio(next.prio);
}

// The compact form has no waker either (Perfetto's own compact_sched drops it too).
void PerfettoWriter::sched_waking(uint32_t cpu, uint64_t ts, uint32_t /*current_pid*/, const PerfettoTask& wakee,
                                  uint32_t target_cpu) {
  if (impl_->dropped()) return;
  impl_->bundle(cpu).sched_waking(ts, wakee.pid, wakee.prio, wakee.comm, target_cpu);
}

void PerfettoWriter::sched_wakeup_new(uint32_t cpu, uint64_t ts, uint32_t current_pid, const PerfettoTask& task,
                                      uint32_t target_cpu) {
  if (impl_->dropped()) return;
  auto* w = impl_->bundle(cpu).event(ts, current_pid)->mutable_sched_wakeup_new();
  w->set_comm(sanitize_utf8(task.comm));
  w->set_pid(static_cast<int32_t>(task.pid));
  w->set_prio(task.prio);
  w->set_success(1);
  w->set_target_cpu(static_cast<int32_t>(target_cpu));
}

void PerfettoWriter::task_exited(const PerfettoTask& t) {
  if (!t.pid) return;
  impl_->exited_tasks.push_back({{t.pid, t.start_time}, t.tgid});
  while (impl_->exited_tasks.size() > kKeepExitedTasks) {
    impl_->forget(impl_->exited_tasks.front());
    impl_->exited_tasks.pop_front();
  }
}

size_t PerfettoWriter::tasks_held() const { return impl_->named_tasks.size() + impl_->task_tracks.size(); }

void PerfettoWriter::counter(uint64_t ts, const PerfettoTask& t, std::string_view name, CounterUnit unit,
                             int64_t value) {
  const CounterValue v{name, unit, value};
  counters(ts, t, std::span<const CounterValue>(&v, 1));
}

void PerfettoWriter::counters(uint64_t ts, const PerfettoTask& t, std::span<const CounterValue> values) {
  if (values.empty()) return;
  if (impl_->stopped()) {
    impl_->events += values.size();
    return;
  }
  Impl::TaskTracks& tracks = impl_->thread_track(t);
  const uint64_t task = tracks.number;
  Impl::PendingCounters c{ts, 0, {}, {}};
  for (const CounterValue& v : values) {
    auto& names = impl_->counter_names;
    auto& seen = impl_->counter_name_data;
    // Callers pass the same literals every time: their address finds the kind without comparing.
    size_t kind = static_cast<size_t>(std::find(seen.begin(), seen.end(), v.name.data()) - seen.begin());
    if (kind == seen.size() || names[kind] != v.name) {
      kind = static_cast<size_t>(std::find(names.begin(), names.end(), v.name) - names.begin());
      if (kind == names.size()) {
        if (kind == kCounterKinds) continue;  // a programming error: the uuid has 3 bits for the kind
        names.emplace_back(v.name);
        seen.push_back(v.name.data());
      }
    }
    const uint64_t uuid = counter_track_uuid(task, kind);
    uint8_t& described = tracks.counters_described;
    if (!(described & (1u << kind))) {
      described = static_cast<uint8_t>(described | (1u << kind));
      pp::TracePacket p;
      auto* td = p.mutable_track_descriptor();
      td->set_uuid(uuid);
      td->set_parent_uuid(thread_track_uuid(task));
      td->set_name(sanitize_utf8(v.name));
      if (v.unit == CounterUnit::wall_ns)
        td->mutable_counter()->set_unit(pp::CounterDescriptor::UNIT_TIME_NS);
      else
        td->mutable_counter()->set_unit_name("virtual ns");  // no built-in unit says it
      impl_->append(p, kTrackSequence);
    }
    c.uuids[c.n] = uuid;
    c.values[c.n] = v.value;
    c.n++;
  }
  impl_->events += c.n;
  if (!c.n) return;
  impl_->counters.push_back(c);
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

uint64_t PerfettoWriter::switch_chain_breaks() const { return impl_->chain_breaks; }
uint64_t PerfettoWriter::packets_written() const { return impl_->packets; }
uint64_t PerfettoWriter::bytes_written() const { return impl_->bytes; }
const std::string& PerfettoWriter::path() const { return impl_->file.path(); }

}  // namespace aitrace
