// aitrace offcpu without a kernel: which switch-outs block and in which state, C++ names without
// parameters, and the renderings of a hand-built snapshot (folded lines, text, JSON, deltas, the
// SVG flame graph), with hostile names escaped in each.
#include "aitrace/offcpu/offcpu_report.hpp"
#include "aitrace/offcpu/stack_symbolizer.hpp"
#include "aitrace/output/flame_svg.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace aitrace {
namespace {

OffcpuStack stack(uint32_t tgid, const char* comm, uint32_t state, int32_t uid, int32_t kid,
                  std::vector<std::string> user, std::vector<std::string> kernel, uint64_t ns, uint64_t count = 1) {
  OffcpuStack s;
  s.tgid = tgid;
  s.comm = comm;
  s.state = state;
  s.user_stack_id = uid;
  s.kernel_stack_id = kid;
  s.user_frames = std::move(user);
  s.kernel_frames = std::move(kernel);
  s.total_ns = ns;
  s.count = count;
  return s;
}

TEST(OffcpuState, SwitchOutsThatBlock) {
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0001), AITRACE_OFFCPU_SLEEP);  // S
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0002), AITRACE_OFFCPU_BLOCK);  // D
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0102), AITRACE_OFFCPU_BLOCK);  // TASK_KILLABLE (vfork's parent)
  EXPECT_EQ(aitrace_offcpu_state(0, 0x2102), AITRACE_OFFCPU_BLOCK);  // ... | TASK_FREEZABLE (6.1+)
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0402), AITRACE_OFFCPU_SLEEP);  // TASK_IDLE: an idle kthread's wait
  EXPECT_EQ(aitrace_offcpu_state(1, 0x0001), 0u);                    // preempted: still runnable
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0000), 0u);                    // a yield
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0080), 0u);                    // TASK_DEAD: its last switch
  EXPECT_EQ(aitrace_offcpu_state(0, 0x0004), 0u);                    // __TASK_STOPPED
}

TEST(OffcpuSymbols, DemangledNamesLoseTheirParameters) {
  EXPECT_EQ(without_parameters("(anonymous namespace)::wait_here(std::string const&, int)"),
            "(anonymous namespace)::wait_here");
  EXPECT_EQ(without_parameters("ns::C::get() const"), "ns::C::get");
  EXPECT_EQ(without_parameters("Foo::operator()(int)"), "Foo::operator()");
  EXPECT_EQ(without_parameters("run(int)::{lambda()#1}::operator()() const"), "run(int)::{lambda()#1}::operator()");
  EXPECT_EQ(without_parameters("std::vector<int, std::allocator<int> >::push_back(int&&)"),
            "std::vector<int, std::allocator<int> >::push_back");
  EXPECT_EQ(without_parameters("pipe_read"), "pipe_read");
  EXPECT_EQ(without_parameters("(anonymous namespace)"), "(anonymous namespace)");
  EXPECT_EQ(without_parameters("f(int) [clone .cold]"), "f(int) [clone .cold]");  // not a plain signature: kept
}

OffcpuSnapshot sample() {
  OffcpuSnapshot s;
  s.stacks.push_back(stack(10, "job", AITRACE_OFFCPU_SLEEP, 1, 2, {"wait_here", "outer", "main"},
                           {"schedule", "pipe_read", "vfs_read"}, 3'000'000, 3));
  // The same path from another thread of that comm: one folded line.
  s.stacks.push_back(stack(11, "job", AITRACE_OFFCPU_SLEEP, 3, 2, {"wait_here", "outer", "main"},
                           {"schedule", "pipe_read", "vfs_read"}, 1'000'000, 1));
  s.stacks.push_back(stack(12, "bad\n;name", AITRACE_OFFCPU_BLOCK, AITRACE_OFFCPU_NO_STACK, -EEXIST, {},
                           {"[lost: stack hash collision]"}, 500'000));
  s.lost.stack_collision = 1;
  return s;
}

TEST(OffcpuReport, FoldedRootFirstMergedInMicroseconds) {
  const std::string f = offcpu_folded(sample());
  EXPECT_NE(f.find("job;main;outer;wait_here;vfs_read;pipe_read;schedule 4000\n"), std::string::npos) << f;
  // comm's newline escaped, its ';' cannot split frames; a kernel thread has no user frames.
  EXPECT_NE(f.find("bad\\x0a:name;[lost: stack hash collision] 500\n"), std::string::npos) << f;
  EXPECT_EQ(std::count(f.begin(), f.end(), '\n'), 2);
}

TEST(OffcpuReport, TextRanksWithSharesAndShowsLost) {
  OffcpuReportContext ctx;
  ctx.top = 2;
  const std::string t = offcpu_text(sample(), ctx);
  EXPECT_NE(t.find("off-CPU time: 4.500 ms in 3 stacks; top 2"), std::string::npos) << t;
  EXPECT_EQ(t.rfind("aitrace offcpu: ", 0), 0u) << "the whole run's first line: " << t;
  ctx.interval = true;
  EXPECT_EQ(offcpu_text(sample(), ctx).rfind("off-CPU time: ", 0), 0u) << "interval headers are the driver's";
  EXPECT_NE(t.find("#1   3.000 ms  66.7%  job [10] sleep, 3 times"), std::string::npos) << t;
  EXPECT_EQ(t.find("#3"), std::string::npos) << t;
  EXPECT_NE(t.find("stack hash collisions 1,"), std::string::npos) << t;
}

TEST(OffcpuReport, JsonHasStatesLostAndFrames) {
  OffcpuReportContext ctx;
  ctx.states = AITRACE_OFFCPU_BLOCK;
  const auto j = offcpu_json(sample(), ctx);
  // The envelope (schema, times, interval, hooks, lost, group_by) is the driver's.
  for (const char* k : {"schema", "interval", "interval_index", "duration_ns", "hooks", "lost", "group_by"})
    EXPECT_FALSE(j.contains(k)) << k;
  EXPECT_EQ(j["states"], nlohmann::json::array({"block"}));
  EXPECT_EQ(offcpu_lost_json(sample())["stack_hash_collisions"], 1);
  EXPECT_EQ(j["total_ns"], 4'500'000);
  ASSERT_EQ(j["stacks"].size(), 3u);
  EXPECT_EQ(j["stacks"][0]["user_frames"][0], "wait_here");
  EXPECT_EQ(j["stacks"][2]["state"], "block");
  EXPECT_EQ(j["stacks"][2]["comm"], "bad\n;name");  // JSON escapes it itself
}

TEST(OffcpuReport, DeltaKeepsOnlyWhatGrew) {
  OffcpuSnapshot before = sample(), now = sample();
  now.stacks[0].total_ns += 7000;
  now.stacks[0].count += 1;
  now.lost.stack_collision = 4;
  const OffcpuSnapshot d = offcpu_delta(now, before);
  ASSERT_EQ(d.stacks.size(), 1u);
  EXPECT_EQ(d.stacks[0].total_ns, 7000u);
  EXPECT_EQ(d.stacks[0].count, 1u);
  EXPECT_EQ(d.lost.stack_collision, 3u);
}

TEST(OffcpuReport, RowsThatShowTheSameFramesAreOne) {
  OffcpuSnapshot s;
  // Two kernel stack ids that differ only in the tracing frames the collector cut.
  s.stacks.push_back(stack(10, "job", AITRACE_OFFCPU_SLEEP, 1, 2, {"wait_here"}, {"schedule"}, 300, 3));
  s.stacks.push_back(stack(10, "job", AITRACE_OFFCPU_SLEEP, 1, 5, {"wait_here"}, {"schedule"}, 100, 1));
  s.stacks.push_back(stack(10, "job", AITRACE_OFFCPU_BLOCK, 1, 5, {"wait_here"}, {"schedule"}, 7, 1));
  offcpu_merge_same_frames(s);
  ASSERT_EQ(s.stacks.size(), 2u);
  EXPECT_EQ(s.stacks[0].total_ns, 400u);
  EXPECT_EQ(s.stacks[0].count, 4u);
  EXPECT_EQ(s.stacks[1].state, AITRACE_OFFCPU_BLOCK);
}

TEST(OffcpuReport, AWakerStandsUpsideDownOnTheBlockedStack) {
  OffcpuSnapshot s;
  OffcpuStack st = stack(10, "job", AITRACE_OFFCPU_SLEEP, 1, 2, {"wait_here", "main"}, {"schedule", "pipe_read"}, 9000);
  st.has_waker = true;
  st.waker_tgid = 10;
  st.waker_comm = "writer";
  st.waker_kernel_frames = {"try_to_wake_up", "pipe_write"};
  st.waker_user_frames = {"write", "loop"};
  s.stacks.push_back(st);
  EXPECT_EQ(offcpu_folded(s), "job;main;wait_here;pipe_read;schedule;--;try_to_wake_up;pipe_write;write;loop;writer 9\n");
  OffcpuReportContext ctx;
  EXPECT_NE(offcpu_text(s, ctx).find("  woken by writer [10]:\n    try_to_wake_up\n    pipe_write\n    --\n    write\n"),
            std::string::npos)
      << offcpu_text(s, ctx);
  EXPECT_EQ(offcpu_json(s, ctx)["stacks"][0]["waker"]["comm"], "writer");
}

TEST(FlameSvg, WidthsFollowValuesAndNamesAreEscaped) {
  const std::string svg = flame_graph_svg({{{"a", "b<c>&\"d'"}, 300}, {{"a", "e"}, 100}, {{"z"}, 0}}, {});
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<title>b&lt;c&gt;&amp;&quot;d&apos; (300, 75.00%)</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<title>all (400, 100.00%)</title>"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("b<c>"), std::string::npos);
  // Every frame is one group; "z" had no time and is not drawn.
  size_t groups = 0;
  for (size_t p = svg.find("<g>"); p != std::string::npos; p = svg.find("<g>", p + 1)) groups++;
  EXPECT_EQ(groups, 4u);  // all, a, b<c>..., e
  EXPECT_EQ(svg.find("<title>z"), std::string::npos);
}

TEST(FlameSvg, ALongSubtitleWrapsAtCommas) {
  FlameGraphOptions o;
  o.width = 300;  // about 40 characters a line
  o.subtitle = "lost: alpha 1, beta 2, gamma 3, delta 4, epsilon 5, zeta 6, eta 7, theta 8";
  const std::string svg = flame_graph_svg({{{"a"}, 1}}, o);
  EXPECT_NE(svg.find(">lost: alpha 1, beta 2, gamma 3, delta 4,</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">epsilon 5, zeta 6, eta 7, theta 8</text>"), std::string::npos) << svg;
}

}  // namespace
}  // namespace aitrace
