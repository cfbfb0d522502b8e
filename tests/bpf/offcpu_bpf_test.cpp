// The offcpu programs in the real kernel, in both flavours (tp_btf with task storage, raw_tp
// with the tid-keyed map): they load, attach, and record a workload blocked on a pipe under its
// known user chain and the kernel's pipe read, as sleep, with the stacks resolved in-process.
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/offcpu/offcpu_collector.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

namespace aitrace {
namespace {

bool has_frame(const std::vector<std::string>& frames, std::string_view part) {
  return std::any_of(frames.begin(), frames.end(), [&](const std::string& f) { return f.find(part) != f.npos; });
}

class OffcpuFlavour : public ::testing::TestWithParam<const char*> {};

TEST_P(OffcpuFlavour, RecordsAPipeReadUnderItsChain) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const pid_t pid = test::spawn_background({test::workload("offcpu_chain"), "pipe", "800"});
  ASSERT_GT(pid, 0);
  TargetSpec spec;
  spec.pids = {static_cast<uint32_t>(pid)};
  auto targets = resolve_targets(spec);
  ASSERT_TRUE(targets.ok()) << targets.error().message;
  auto c = OffcpuCollector::load({}, *targets, test::features(GetParam()));
  ASSERT_TRUE(c.ok()) << c.error().message;
  const HookStatus* sw = (*c)->hooks().status("sched:sched_switch");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->kind, parse_hook_kind(GetParam()));
  Status a = (*c)->attach(*targets);
  ASSERT_TRUE(a.ok()) << a.error().message;
  (*c)->start();
  // The run loop's part: new stacks are resolved as they are reported, while the process lives.
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    ASSERT_TRUE((*c)->drain().ok());
    usleep(20'000);
  }
  (*c)->detach();
  ASSERT_TRUE((*c)->drain().ok());
  auto snap = (*c)->snapshot();
  ASSERT_TRUE(snap.ok()) << snap.error().message;

  uint64_t chain_ns = 0;
  for (const OffcpuStack& st : snap->stacks) {
    EXPECT_EQ(st.tgid, static_cast<uint32_t>(pid)) << "the filter let another process through";
    if (has_frame(st.user_frames, "wait_here") && has_frame(st.user_frames, "outer") &&
        has_frame(st.kernel_frames, "pipe_read")) {
      EXPECT_EQ(st.state, AITRACE_OFFCPU_SLEEP);
      EXPECT_FALSE(has_frame(st.kernel_frames, "bpf_prog_")) << "aitrace's own frames are not the task's";
      chain_ns += st.total_ns;
    }
  }
  // It blocks for most of its 800 ms; attaching costs part of the start.
  EXPECT_GT(chain_ns, 400'000'000u);
  EXPECT_LT(chain_ns, 900'000'000u);
  EXPECT_EQ(snap->lost.stack_collision + snap->lost.stack_full + snap->lost.start_full + snap->lost.totals_full, 0u);
}

// The run's one window (docs/architecture.md): attached but not started, the programs run and
// record nothing; from start() on they count, and after stop() nothing again. The hold is set
// in .bss before load, so this also shows that the loaded object starts out held.
TEST_P(OffcpuFlavour, CountsOnlyBetweenStartAndStop) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  TargetSpec spec;
  spec.tids = {static_cast<uint32_t>(syscall(SYS_gettid))};
  auto targets = resolve_targets(spec);
  ASSERT_TRUE(targets.ok()) << targets.error().message;
  auto c = OffcpuCollector::load({}, *targets, test::features(GetParam()));
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE((*c)->attach(*targets).ok());
  auto blocks = [&] {
    auto snap = (*c)->snapshot();
    uint64_t n = 0;
    if (snap.ok())
      for (const OffcpuStack& st : snap->stacks) n += st.count;
    return n;
  };
  for (int i = 0; i < 20; i++) usleep(500);  // 20 sleeps in S, held
  EXPECT_EQ(blocks(), 0u);
  (*c)->start();
  for (int i = 0; i < 20; i++) usleep(500);
  (*c)->stop();
  const uint64_t counted = blocks();
  EXPECT_GE(counted, 20u);
  EXPECT_LE(counted, 22u);  // the naps, plus a wait for a page or a lock or two
  for (int i = 0; i < 20; i++) usleep(500);
  EXPECT_EQ(blocks(), counted) << "counted after stop()";
  (*c)->detach();
}

INSTANTIATE_TEST_SUITE_P(Flavours, OffcpuFlavour, ::testing::Values("tp_btf", "raw_tp"));

}  // namespace
}  // namespace aitrace
