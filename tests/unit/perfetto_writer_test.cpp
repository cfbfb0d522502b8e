// The streaming Perfetto writer: packets decode with the proto subset, per-CPU bundles stay in
// time order, counter tracks hang under their thread, and a flushed prefix is a valid trace.
#include "aitrace/output/perfetto_writer.hpp"
#include "eevdf_ground_truth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

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
  tw.thread_name(100, 10, 11, "worker");
  tw.thread_name(100, 10, 11, "worker");  // unchanged name: nothing new
  tw.sched_switch(1, 1000, {11, "worker", 120}, 0x1, {0, "swapper/1", 120});
  tw.sched_waking(0, 1500, 12, {11, "worker", 120}, 1);
  tw.sched_switch(1, 2000, {0, "swapper/1", 120}, 0, {11, "worker", 120});
  tw.counter(2000, 10, 11, "lag_ns", -42);
  tw.counter(1000, 10, 11, "lag_ns", 17);  // out of order: sorted at flush
  tw.counter(1000, 10, 11, "slice_ns", 1400000);
  tw.thread_name(3000, 10, 11, "renamed\x1b");
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
    if (counter_names[uuid] != "lag_ns") continue;
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], std::make_pair(uint64_t{1000}, int64_t{17}));
    EXPECT_EQ(v[1], std::make_pair(uint64_t{2000}, int64_t{-42}));
  }
  fs::remove(path);
}

TEST(PerfettoWriter, FlushedPrefixIsReadableBeforeFinish) {
  std::string path = temp_trace("b.perfetto-trace");
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok());
  for (uint64_t i = 0; i < 2000; i++) (*w)->sched_switch(0, 1000 + i, {1, "a", 120}, 0, {2, "b", 120});
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
  EXPECT_EQ(test::count_trace(trace).switches, 2000u);
  EXPECT_GE(trace.packet_size(), 4);  // bundles are cut at 512 events

  ASSERT_TRUE((*w)->finish().ok());
  pp::Trace done;
  ASSERT_TRUE(test::parse_trace_file(path, &done));
  EXPECT_EQ(test::count_trace(done).switches, 2001u);
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
