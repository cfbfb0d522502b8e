// The decoder and summary on synthetic records: EEVDF and CFS kernels, preemption accounting,
// the groups[].eevdf JSON object.
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/output/perfetto_writer.hpp"
#include "eevdf_ground_truth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace aitrace {
namespace {

constexpr uint16_t kEevdf = AITRACE_ST_F_EEVDF | AITRACE_ST_F_AVG | AITRACE_ST_F_CUSTOM_SLICE;

aitrace_st_task task(uint32_t pid, const char* comm, uint64_t vruntime, uint32_t weight) {
  aitrace_st_task t{};
  t.pid = pid;
  t.tgid = 100;
  std::strncpy(t.comm, comm, sizeof(t.comm));
  t.prio = 120;
  t.weight = weight;
  t.vruntime = vruntime;
  t.deadline = vruntime + 1400000;
  t.slice = 1400000;
  return t;
}

// prev 101 (v 1600, w 1024) preempted by 102 (v 1000): zero 1000, queue = {prev}, curr = next.
// V = 1000 + (1024*600 + 1024*0) / 2048 = 1300: prev's lag -300, ineligible.
aitrace_st_switch preemption(uint64_t ran_ns, uint16_t flags = kEevdf) {
  aitrace_st_switch r{};
  r.hdr = {AITRACE_ST_SWITCH, flags, 1, 5000};
  r.prev_state = 0;
  r.prev_wanted = r.next_wanted = 1;
  r.prev = task(101, "trainer", 1600, 1024);
  r.prev.on_rq = 1;
  r.prev.sum_exec_runtime = 10000000;
  r.prev.prev_sum_exec_runtime = 10000000 - ran_ns;
  r.next = task(102, "loader", 1000, 1024);
  r.prev_cfs = {int64_t{1024} * 600, 1024, 1000, 1000, 1024, 1, 1, 0};
  r.next_cfs = r.prev_cfs;
  return r;
}

std::span<const std::byte> bytes(const void* p, size_t n) { return {static_cast<const std::byte*>(p), n}; }

TEST(SchedTraceDecoder, PreemptionAndLagPerThread) {
  EevdfSummary s;
  SchedTraceDecoder d(&s, nullptr);
  auto a = preemption(500000);  // ran 0.5 ms of a 1.4 ms slice
  auto b = preemption(2000000);
  b.prev.prev_sum_exec_runtime = a.prev.sum_exec_runtime;  // the next run: the figure only grows
  b.prev.sum_exec_runtime = a.prev.sum_exec_runtime + 2000000;
  b.wakeup_preempt = 1;
  d.on_record(bytes(&a, sizeof(a)));
  d.on_record(bytes(&b, sizeof(b)));
  EXPECT_EQ(d.switches(), 2u);
  const EevdfThread* t = s.thread(101);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->switch_outs, 2u);
  EXPECT_EQ(t->preempted, 2u);
  EXPECT_EQ(t->preempted_before_slice_end, 1u);
  EXPECT_EQ(t->runtime_ns, 2500000u);
  EXPECT_EQ(t->lag_ns.count(), 2u);
  EXPECT_EQ(t->lag_ns.histogram().min(), -300);
  EXPECT_EQ(t->eligible_switch_outs, 0u);
  EXPECT_EQ(s.thread(102)->wakeup_preemptions, 1u);

  auto j = s.json();
  EXPECT_EQ(j["kernel"], "eevdf");
  const auto& e = j["groups"][0]["eevdf"];
  EXPECT_EQ(j["groups"][0]["tid"], 101);
  EXPECT_EQ(e["slice_ns"], 1400000);
  EXPECT_EQ(e["custom_slice"], false);
  EXPECT_EQ(e["weight"], 1024);
  EXPECT_EQ(e["switch_outs"], 2);
  EXPECT_EQ(e["preempted"], 2);
  EXPECT_EQ(e["preempted_before_slice_end"], 1);
  EXPECT_EQ(e["lag_ns"]["min"], -300);
  EXPECT_EQ(e["lag_ns"]["unit"], "virtual ns");  // V - v is virtual time, not wall ns
  EXPECT_EQ(e["top_preemptors"][0]["pid"], 102);
  EXPECT_EQ(e["top_preemptors"][0]["comm"], "loader");
  EXPECT_EQ(e["top_preemptors"][0]["count"], 2);
  std::string text = s.text();
  EXPECT_NE(text.find("EEVDF trainer (tid 101"), std::string::npos) << text;
  EXPECT_NE(text.find("loader[102] x2"), std::string::npos) << text;
}

TEST(SchedTraceDecoder, SleepingTaskLagIncludesItself) {
  EevdfSummary s;
  SchedTraceDecoder d(&s, nullptr);
  auto r = preemption(100);
  r.prev_state = 1;  // went to sleep: dequeued, not in the sums any more
  r.prev.on_rq = 0;
  r.prev_cfs.sum_w_vruntime = 0;
  r.prev_cfs.sum_weight = 0;  // only next (curr, v 1000) is left
  d.on_record(bytes(&r, sizeof(r)));
  const EevdfThread* t = s.thread(101);
  EXPECT_EQ(t->preempted, 0u);
  EXPECT_EQ(t->lag_ns.histogram().min(), -300);  // V over {prev 1600, next 1000} = 1300
  EXPECT_TRUE(t->preemptors.empty());
}

TEST(SchedTraceDecoder, CfsKernelSaysSo) {
  EevdfSummary s;
  SchedTraceDecoder d(&s, nullptr);
  auto r = preemption(100, 0);
  d.on_record(bytes(&r, sizeof(r)));
  EXPECT_FALSE(s.eevdf_kernel());
  auto j = s.json();
  EXPECT_EQ(j["kernel"], "cfs");
  const auto& e = j["groups"][0]["eevdf"];
  EXPECT_EQ(e["note"], "CFS kernel: no EEVDF fields");
  EXPECT_FALSE(e.contains("slice_ns"));
  EXPECT_FALSE(e.contains("lag_ns"));
  EXPECT_EQ(e["vruntime_ns"], 1600);
  EXPECT_NE(s.text().find("CFS kernel: no EEVDF fields"), std::string::npos);
}

TEST(SchedTraceDecoder, MalformedRecordsAreCounted) {
  EevdfSummary s;
  SchedTraceDecoder d(&s, nullptr);
  aitrace_st_header h{AITRACE_ST_SWITCH, 0, 0, 0};
  d.on_record(bytes(&h, sizeof(h)));  // too short for a switch
  h.kind = 99;
  d.on_record(bytes(&h, sizeof(h)));
  d.on_record(bytes(&h, 3));
  EXPECT_EQ(d.malformed(), 3u);
  EXPECT_EQ(d.switches(), 0u);
}

// A switch between two untraced tasks (recorded only with a trace file) reaches the trace as an
// ordinary sched_switch, so the CPU's chain stays whole, and leaves the summary alone.
TEST(SchedTraceDecoder, BriefSwitchGoesToTheTraceOnly) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("aitrace_brief_" + std::to_string(getpid()) + ".perfetto-trace")).string();
  auto w = PerfettoWriter::create(path);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EevdfSummary s;
  SchedTraceDecoder d(&s, w->get());
  aitrace_st_switch_brief r{};
  r.hdr = {AITRACE_ST_SWITCH_BRIEF, kEevdf, 1, 7000};
  r.prev_pid = r.prev_tgid = 300;
  r.next_pid = 301;
  r.next_tgid = 300;
  r.prev_prio = 120;
  r.next_prio = 139;
  r.prev_state = 1;  // TASK_INTERRUPTIBLE
  r.prev_start_time = 10;
  r.next_start_time = 20;
  std::strncpy(r.prev_comm, "bash", sizeof(r.prev_comm));
  std::strncpy(r.next_comm, "kworker", sizeof(r.next_comm));
  d.on_record(bytes(&r, sizeof(r)));
  d.on_record(bytes(&r, sizeof(r) - 1));  // short: malformed
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_EQ(d.switches(), 1u);
  EXPECT_EQ(d.malformed(), 1u);
  EXPECT_EQ(s.thread(300), nullptr);
  EXPECT_EQ(s.thread(301), nullptr);

  perfetto::protos::Trace t;
  ASSERT_TRUE(test::parse_trace_file(path, &t));
  int switches = 0;
  for (const auto& p : t.packet())
    for (const auto& e : p.ftrace_events().event()) {
      if (!e.has_sched_switch()) continue;
      switches++;
      EXPECT_EQ(p.ftrace_events().cpu(), 1u);
      EXPECT_EQ(e.timestamp(), 7000u);
      EXPECT_EQ(e.sched_switch().prev_pid(), 300);
      EXPECT_EQ(e.sched_switch().prev_comm(), "bash");
      EXPECT_EQ(e.sched_switch().prev_state(), 1);
      EXPECT_EQ(e.sched_switch().next_pid(), 301);
      EXPECT_EQ(e.sched_switch().next_comm(), "kworker");
      EXPECT_EQ(e.sched_switch().next_prio(), 139);
    }
  EXPECT_EQ(switches, 1);
  EXPECT_EQ(test::count_trace(t).thread_names[301], "kworker");
  std::filesystem::remove(path);
}

TEST(SchedTraceDecoder, CommsAreEscapedInText) {
  EevdfSummary s;
  SchedTraceDecoder d(&s, nullptr);
  auto r = preemption(100);
  std::strncpy(r.prev.comm, "evil\x1b[2J", sizeof(r.prev.comm));
  d.on_record(bytes(&r, sizeof(r)));
  std::string text = s.text();
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\x1b[2J"), std::string::npos) << text;
}

}  // namespace
}  // namespace aitrace
