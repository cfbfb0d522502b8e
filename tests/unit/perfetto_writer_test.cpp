// The streaming Perfetto writer: packets decode with the proto subset, per-CPU bundles stay in
// time order, counter tracks hang under their thread, and a flushed prefix is a valid trace.
#include "aitrace/output/perfetto_writer.hpp"
#include "aitrace/output/escape.hpp"
#include "eevdf_ground_truth.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
namespace pp = perfetto::protos;

std::string temp_trace(const std::string& name) {
  return (fs::temp_directory_path() / ("aitrace_pw_" + std::to_string(getpid()) + "_" + name)).string();
}

TEST(PerfettoWriter, WritesDecodableSchedTrace) {
  std::string path = temp_trace("a.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto& tw = **w;
  tw.system_info();
  const PerfettoTask worker{11, "worker", 120, 10, 50};
  tw.thread_name(1, 100, worker);
  tw.thread_name(1, 100, worker);  // unchanged name: nothing new
  tw.sched_switch(1, 1000, {11, "worker", 120}, 0x1, {0, "swapper/1", 120});
  tw.sched_waking(0, 1500, 12, {11, "worker", 120}, 1);
  tw.sched_switch(1, 2000, {0, "swapper/1", 120}, 0, {11, "worker", 120});
  tw.counter(2000, worker, "lag_vns", CounterUnit::virtual_ns, -42);
  tw.counter(1000, worker, "lag_vns", CounterUnit::virtual_ns, 17);  // out of order: sorted at flush
  tw.counter(1000, worker, "slice_ns", CounterUnit::wall_ns, 1400000);
  tw.thread_name(1, 3000, {11, "renamed\x1b", 120, 10, 50});
  ASSERT_TRUE(tw.finish().ok());

  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  auto counts = test::count_trace(trace);
  EXPECT_EQ(counts.switches, 2u);
  EXPECT_EQ(counts.wakings, 1u);
  EXPECT_TRUE(counts.per_cpu_ordered);
  EXPECT_EQ(counts.switch_outs[11], 1u);
  EXPECT_EQ(counts.thread_names[11], "renamed\x1b");  // valid UTF-8 is kept; escaping is the UI's job

  int process_trees = 0, system_infos = 0, descriptors = 0, counter_events = 0;
  uint64_t thread_uuid = 0;
  std::map<uint64_t, std::string> counter_names;
  std::map<uint64_t, std::vector<std::pair<uint64_t, int64_t>>> values;
  for (const auto& p : trace.packet()) {
    if (p.has_system_info()) {
      system_infos++;
      EXPECT_FALSE(p.system_info().utsname().release().empty());
    }
    if (p.has_process_tree()) process_trees++;
    if (p.has_track_descriptor()) {
      descriptors++;
      const auto& td = p.track_descriptor();
      if (td.has_thread()) {
        EXPECT_EQ(td.thread().tid(), 11);
        EXPECT_EQ(td.thread().pid(), 10);
        thread_uuid = td.uuid();
      } else {
        EXPECT_EQ(td.parent_uuid(), thread_uuid);  // the thread's track came first
        counter_names[td.uuid()] = td.name();
        // Virtual time is not labelled as wall ns; the slice is wall ns.
        if (td.name() == "slice_ns") {
          EXPECT_EQ(td.counter().unit(), pp::CounterDescriptor::UNIT_TIME_NS);
        } else {
          EXPECT_FALSE(td.counter().has_unit()) << td.name();
          EXPECT_EQ(td.counter().unit_name(), "virtual ns") << td.name();
        }
      }
    }
    if (p.has_track_event()) {
      counter_events++;
      EXPECT_EQ(p.track_event().type(), pp::TrackEvent::TYPE_COUNTER);
      ASSERT_TRUE(counter_names.count(p.track_event().track_uuid())) << "counter before its descriptor";
      values[p.track_event().track_uuid()].emplace_back(p.timestamp(), p.track_event().counter_value());
    }
    EXPECT_NE(p.trusted_packet_sequence_id(), 0u);
  }
  EXPECT_EQ(system_infos, 1);
  EXPECT_EQ(process_trees, 2);  // first name, then the rename
  EXPECT_EQ(descriptors, 3);    // thread + two counters
  EXPECT_EQ(counter_events, 3);
  for (const auto& [uuid, v] : values) {
    if (counter_names[uuid] != "lag_vns") continue;
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], std::make_pair(uint64_t{1000}, int64_t{17}));
    EXPECT_EQ(v[1], std::make_pair(uint64_t{2000}, int64_t{-42}));
  }
  fs::remove(path);
}

// sched_switch and sched_waking go in each bundle's compact_sched, and read back by Perfetto's
// importer rules (test::expand_compact_sched) they are the events written: times, pids, prios,
// comms (interned once per bundle, a hostile one made valid UTF-8), prev_state, and each
// switch's prev task from the CPU's switch before it. A CPU's first switch and a switch whose
// prev is not the CPU's last next task are whole events, so the break stays visible.
TEST(PerfettoWriter, CompactSchedReadsBackAsTheEventsWritten) {
  std::string path = temp_trace("compact.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto& tw = **w;
  struct Switch {
    uint32_t cpu;
    uint64_t ts;
    PerfettoTask prev;
    int64_t state;
    PerfettoTask next;
  };
  const PerfettoTask a{10, "a", 120}, b{11, "b\xff", 100}, idle{0, "swapper/1", 120}, c{12, "c", 139};
  const std::vector<Switch> switches = {
      {0, 1000, a, 1, b},       {1, 1100, idle, 0, c}, {0, 1500, b, 0, a},     {0, 2600000, a, 0x100, b},
      {1, 2700000, c, 2, idle}, {0, 2700001, c, 0, a},  // prev c on CPU 0, whose last next was b
  };
  for (const auto& s : switches) tw.sched_switch(s.cpu, s.ts, s.prev, s.state, s.next);
  tw.sched_waking(0, 1200, 10, c, 1);
  tw.sched_waking(0, 1300, 10, b, 0);
  ASSERT_TRUE(tw.finish().ok());
  EXPECT_EQ(tw.switch_chain_breaks(), 1u);

  pp::Trace raw;
  {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    ASSERT_TRUE(raw.ParseFromString(ss.str()));
  }
  uint64_t compact_switches = 0, whole_switches = 0, compact_wakings = 0;
  for (const auto& p : raw.packet()) {
    const auto& cs = p.ftrace_events().compact_sched();
    compact_switches += static_cast<uint64_t>(cs.switch_timestamp_size());
    compact_wakings += static_cast<uint64_t>(cs.waking_timestamp_size());
    for (const auto& e : p.ftrace_events().event()) whole_switches += e.has_sched_switch();
    if (p.ftrace_events().cpu() == 0 && cs.switch_timestamp_size()) {
      EXPECT_EQ(cs.switch_timestamp(0), 1500u) << "the first delta is from 0";
      EXPECT_EQ(cs.switch_timestamp(1), 2600000u - 1500u);
      EXPECT_EQ(cs.intern_table_size(), 3) << "a, b and c, once each (b twice in the bundle)";
    }
  }
  EXPECT_EQ(compact_switches, 3u);
  EXPECT_EQ(whole_switches, 3u);  // the first of each CPU and the break
  EXPECT_EQ(compact_wakings, 2u);

  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  std::vector<Switch> read;
  std::vector<std::pair<uint64_t, int32_t>> wakings;
  for (const auto& p : trace.packet())
    for (const auto& e : p.ftrace_events().event()) {
      if (e.has_sched_waking()) {
        wakings.emplace_back(e.timestamp(), e.sched_waking().pid());
        EXPECT_EQ(e.sched_waking().target_cpu(), e.sched_waking().pid() == 12 ? 1 : 0);
      }
      if (!e.has_sched_switch()) continue;
      const auto& s = e.sched_switch();
      ASSERT_TRUE(s.has_prev_pid()) << "every switch has its prev task";
      read.push_back({p.ftrace_events().cpu(), e.timestamp(), {static_cast<uint32_t>(s.prev_pid()), s.prev_comm()},
                      s.prev_state(), {static_cast<uint32_t>(s.next_pid()), s.next_comm(), s.next_prio()}});
    }
  ASSERT_EQ(read.size(), switches.size());
  std::vector<Switch> want = switches;
  std::stable_sort(want.begin(), want.end(), [](const Switch& x, const Switch& y) { return x.cpu < y.cpu; });
  std::stable_sort(read.begin(), read.end(), [](const Switch& x, const Switch& y) { return x.cpu < y.cpu; });
  for (size_t i = 0; i < want.size(); i++) {
    SCOPED_TRACE(i);
    EXPECT_EQ(read[i].cpu, want[i].cpu);
    EXPECT_EQ(read[i].ts, want[i].ts);
    EXPECT_EQ(read[i].prev.pid, want[i].prev.pid);
    EXPECT_EQ(read[i].state, want[i].state);
    EXPECT_EQ(read[i].next.pid, want[i].next.pid);
    EXPECT_EQ(read[i].next.prio, want[i].next.prio);
    EXPECT_EQ(read[i].next.comm, sanitize_utf8(want[i].next.comm));
  }
  EXPECT_EQ(wakings, (std::vector<std::pair<uint64_t, int32_t>>{{1200, 12}, {1300, 11}}));
  EXPECT_TRUE(test::walk_switch_chains(trace).mismatched == 1u);
  fs::remove(path);
}

// Counter values of one task taken together are one packet: the first value on its track, the
// others as extra counter values, each track described once under the thread.
TEST(PerfettoWriter, CountersTakenTogetherAreOnePacket) {
  std::string path = temp_trace("counters.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  const PerfettoTask t{21, "t", 120, 21, 7};
  for (int64_t i = 0; i < 3; i++) {
    const CounterValue v[] = {{"lag_vns", CounterUnit::virtual_ns, -i}, {"slice_ns", CounterUnit::wall_ns, 3000000 + i}};
    (*w)->counters(static_cast<uint64_t>(100 + i), t, v);
  }
  ASSERT_TRUE((*w)->finish().ok());
  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  std::map<uint64_t, std::string> names;
  std::map<std::string, std::vector<int64_t>> values;
  int packets = 0;
  for (const auto& p : trace.packet()) {
    if (p.has_track_descriptor() && p.track_descriptor().has_counter())
      names[p.track_descriptor().uuid()] = p.track_descriptor().name();
    if (!p.has_track_event()) continue;
    packets++;
    const auto& te = p.track_event();
    ASSERT_TRUE(names.count(te.track_uuid()));
    values[names[te.track_uuid()]].push_back(te.counter_value());
    ASSERT_EQ(te.extra_counter_track_uuids_size(), te.extra_counter_values_size());
    for (int i = 0; i < te.extra_counter_values_size(); i++) {
      ASSERT_TRUE(names.count(te.extra_counter_track_uuids(i)));
      values[names[te.extra_counter_track_uuids(i)]].push_back(te.extra_counter_values(i));
    }
  }
  EXPECT_EQ(packets, 3);
  EXPECT_EQ(names.size(), 2u);
  EXPECT_EQ(values["lag_vns"], (std::vector<int64_t>{0, -1, -2}));
  EXPECT_EQ(values["slice_ns"], (std::vector<int64_t>{3000000, 3000001, 3000002}));
  EXPECT_EQ(test::count_trace(trace).counters, 6u);
  fs::remove(path);
}

// Pid 40 is two processes one after the other (start times 5000 and 9000), and their records
// arrive out of order (ring shards are drained one after the other). Each gets its own thread
// track and process-tree entry, and the first one ends just before the second started: Perfetto's
// importer ends a thread at sched_process_free (process_tracker.cc, EndThread) and starts a new
// one for the tid's next event, and a second thread-track uuid for one (pid, tid) is a new thread.
TEST(PerfettoWriter, ReusedPidIsANewThread) {
  std::string path = temp_trace("reuse.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto& tw = **w;
  const PerfettoTask beta{40, "beta", 120, 40, 9000}, alpha{40, "alpha", 120, 40, 5000};
  tw.thread_name(1, 9500, beta);  // the later task first
  tw.counter(9500, beta, "slice_ns", CounterUnit::wall_ns, 3);
  tw.thread_name(0, 6000, alpha);
  tw.counter(6000, alpha, "slice_ns", CounterUnit::wall_ns, 2);
  tw.thread_name(0, 7000, alpha);  // seen before: nothing new
  ASSERT_TRUE(tw.finish().ok());

  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  std::vector<uint64_t> frees;
  std::map<uint64_t, uint64_t> thread_tracks;  // uuid -> count
  std::vector<std::string> process_names;
  for (const auto& p : trace.packet()) {
    for (const auto& e : p.ftrace_events().event())
      if (e.has_sched_process_free()) {
        EXPECT_EQ(e.sched_process_free().pid(), 40);
        frees.push_back(e.timestamp());
      }
    if (p.has_track_descriptor() && p.track_descriptor().has_thread()) {
      EXPECT_EQ(p.track_descriptor().thread().tid(), 40);
      thread_tracks[p.track_descriptor().uuid()]++;
    }
    for (const auto& proc : p.process_tree().processes()) {
      EXPECT_EQ(proc.pid(), 40);
      process_names.push_back(proc.cmdline_size() ? proc.cmdline(0) : "");
    }
  }
  EXPECT_EQ(frees, std::vector<uint64_t>{8999});  // alpha ends before beta started
  EXPECT_EQ(thread_tracks.size(), 2u);
  for (const auto& [uuid, n] : thread_tracks) EXPECT_EQ(n, 1u) << uuid;
  // No /proc/40 with these start times: the command line falls back to the leader's comm.
  EXPECT_EQ(process_names, (std::vector<std::string>{"beta", "alpha"}));
  fs::remove(path);
}

// A long trace's per-task state follows the live tasks: an exited task is forgotten once
// kKeepExitedTasks later tasks exited, and a pid reused after that still starts a new thread
// (its sched_process_free), because the pid's latest start time is kept.
TEST(PerfettoWriter, ExitedTasksAreForgottenAndAReusedPidStillEndsTheOldThread) {
  std::string path = temp_trace("forget.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  auto& tw = **w;
  const PerfettoTask alpha{40, "alpha", 120, 40, 5000};
  tw.thread_name(0, 5100, alpha);
  tw.counter(5100, alpha, "slice_ns", CounterUnit::wall_ns, 1);
  tw.task_exited(alpha);
  constexpr uint32_t kOthers = PerfettoWriter::kKeepExitedTasks + 1000;
  for (uint32_t i = 0; i < kOthers; i++) {
    const PerfettoTask t{1000 + i, "storm", 120, 1000 + i, 6000 + i};
    tw.thread_name(1, 6000 + i, t);
    tw.counter(6000 + i, t, "slice_ns", CounterUnit::wall_ns, 2);
    tw.task_exited(t);
  }
  // Each exited task holds a name and a track entry until forgotten: the last kKeepExitedTasks.
  EXPECT_EQ(tw.tasks_held(), 2 * PerfettoWriter::kKeepExitedTasks);
  const PerfettoTask beta{40, "beta", 120, 40, 90000};
  tw.thread_name(0, 90100, beta);
  ASSERT_TRUE(tw.finish().ok());

  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  std::vector<uint64_t> frees;
  for (const auto& p : trace.packet())
    for (const auto& e : p.ftrace_events().event())
      if (e.has_sched_process_free() && e.sched_process_free().pid() == 40) frees.push_back(e.timestamp());
  EXPECT_EQ(frees, std::vector<uint64_t>{89999});  // alpha ends before beta started
  fs::remove(path);
}

// A process's track carries its command line, read from /proc while the task is the one the
// record names (its start time matches), else the comm.
TEST(PerfettoWriter, ProcessCarriesItsCommandLine) {
  std::string stat = test::read_file("/proc/self/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; i++) in >> field;  // starttime, in clock ticks
  const uint64_t start_ns = std::stoull(field) * (1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  std::string raw = test::read_file("/proc/self/cmdline");
  std::vector<std::string> argv;
  for (size_t from = 0; from < raw.size();) {
    size_t nul = raw.find('\0', from);
    argv.push_back(raw.substr(from, nul - from));
    from = nul + 1;
  }
  ASSERT_FALSE(argv.empty());

  std::string path = temp_trace("cmdline.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  const auto self = static_cast<uint32_t>(getpid());
  (*w)->thread_name(0, 100, {self, "unit_tests", 120, self, start_ns});
  (*w)->thread_name(0, 100, {self + 1000000, "other", 120, self + 1000000, start_ns});  // no such task
  ASSERT_TRUE((*w)->finish().ok());
  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  std::map<int32_t, std::vector<std::string>> cmdlines;
  for (const auto& p : trace.packet())
    for (const auto& proc : p.process_tree().processes())
      cmdlines[proc.pid()] = {proc.cmdline().begin(), proc.cmdline().end()};
  EXPECT_EQ(cmdlines[static_cast<int32_t>(self)], argv);
  EXPECT_EQ(cmdlines[static_cast<int32_t>(self + 1000000)], std::vector<std::string>{"other"});
  fs::remove(path);
}

// The e2e tests' chain walk (Perfetto's rule for mismatched_sched_switch_tids) finds a break:
// on CPU 0, task 3 is switched out after task 2 was switched in (a switch of 2 -> 3 missing).
TEST(PerfettoWriter, SwitchChainWalkFindsABreak) {
  std::string path = temp_trace("chain.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  (*w)->sched_switch(0, 100, {1, "a", 120}, 0, {2, "b", 120});
  (*w)->sched_switch(1, 150, {7, "x", 120}, 0, {8, "y", 120});
  (*w)->sched_switch(0, 300, {3, "c", 120}, 0, {1, "a", 120});
  (*w)->sched_switch(1, 250, {8, "y", 120}, 0, {7, "x", 120});
  ASSERT_TRUE((*w)->finish().ok());
  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(path, &trace));
  const test::SwitchChains c = test::walk_switch_chains(trace);
  EXPECT_EQ(c.switches, 4u);
  EXPECT_EQ(c.mismatched, 1u);
  EXPECT_EQ(c.first_mismatch, "cpu 0 at 300: prev_pid 3 after next_pid 2");
  fs::remove(path);
}

TEST(PerfettoWriter, FlushedPrefixIsReadableBeforeFinish) {
  std::string path = temp_trace("b.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok());
  for (uint64_t i = 0; i < 5000; i++) (*w)->sched_switch(0, 1000 + i, {1, "a", 120}, 0, {2, "b", 120});
  ASSERT_TRUE((*w)->flush(true).ok());
  (*w)->sched_switch(0, 9999, {1, "a", 120}, 0, {2, "b", 120});  // still in memory: a "crash" loses it

  // Not renamed yet: the data lives in .<name>.partial-*, which must decode on its own.
  std::string partial;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    if (e.path().filename().string().rfind("." + fs::path(path).filename().string() + ".partial-", 0) == 0)
      partial = e.path().string();
  ASSERT_FALSE(partial.empty());
  EXPECT_FALSE(fs::exists(path));
  pp::Trace trace;
  ASSERT_TRUE(test::parse_trace_file(partial, &trace));
  EXPECT_EQ(test::count_trace(trace).switches, 5000u);
  EXPECT_GE(trace.packet_size(), 3);  // bundles are cut at 2048 events

  ASSERT_TRUE((*w)->finish().ok());
  pp::Trace done;
  ASSERT_TRUE(test::parse_trace_file(path, &done));
  EXPECT_EQ(test::count_trace(done).switches, 5001u);
  EXPECT_FALSE(fs::exists(partial));
  fs::remove(path);
}

TEST(PerfettoWriter, RefusesASymlink) {
  std::string path = temp_trace("link.perfetto-trace");
  fs::create_symlink("/etc/passwd", path);
  auto w = PerfettoWriter::create(path);
  EXPECT_FALSE(w.ok());
  fs::remove(path);
}

}  // namespace
}  // namespace aitrace
