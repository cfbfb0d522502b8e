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
#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace aitrace {
namespace {

bool has_frame(const std::vector<std::string>& frames, std::string_view part) {
  return std::any_of(frames.begin(), frames.end(), [&](const std::string& f) { return f.find(part) != f.npos; });
}

class OffcpuFlavour : public ::testing::TestWithParam<const char*> {};

// Traces the pipe workload (its process alone) for its whole life, the run loop's part included:
// new stacks are resolved as they are reported, while the process lives.
void trace_pipe_workload(const OffcpuConfig& cfg, const char* flavour, pid_t* pid, OffcpuSnapshot* out) {
  *pid = test::spawn_background({test::workload("offcpu_chain"), "pipe", "800"});
  ASSERT_GT(*pid, 0);
  TargetSpec spec;
  spec.pids = {static_cast<uint32_t>(*pid)};
  auto targets = resolve_targets(spec);
  ASSERT_TRUE(targets.ok()) << targets.error().message;
  auto c = OffcpuCollector::load(cfg, *targets, test::features(flavour));
  ASSERT_TRUE(c.ok()) << c.error().message;
  const HookStatus* sw = (*c)->hooks().status("sched:sched_switch");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->kind, parse_hook_kind(flavour));
  Status a = (*c)->attach(*targets);
  ASSERT_TRUE(a.ok()) << a.error().message;
  (*c)->start();
  int status = 0;
  while (waitpid(*pid, &status, WNOHANG) == 0) {
    ASSERT_TRUE((*c)->drain().ok());
    usleep(20'000);
  }
  (*c)->detach();
  ASSERT_TRUE((*c)->drain().ok());
  auto snap = (*c)->snapshot();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  *out = std::move(*snap);
}

TEST_P(OffcpuFlavour, RecordsAPipeReadUnderItsChain) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  pid_t pid = -1;
  OffcpuSnapshot snap;
  ASSERT_NO_FATAL_FAILURE(trace_pipe_workload({}, GetParam(), &pid, &snap));
  uint64_t chain_ns = 0;
  for (const OffcpuStack& st : snap.stacks) {
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
  EXPECT_EQ(snap.lost.stack_collision + snap.lost.stack_full + snap.lost.start_full + snap.lost.totals_full, 0u);
}

// A one-entry stack map holds the run's first stack; the next stack finds the bucket taken (or
// the map full) and goes to the spill map, also of one entry; every later one is lost, counted.
// So exactly two ids are ever stored: 0 in the main map and 0 | AITRACE_OFFCPU_SPILL_ID, both
// read back with their frames. Without the spill map only id 0 was stored.
TEST_P(OffcpuFlavour, AStackWhoseBucketIsTakenIsKeptInTheSpillMap) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  OffcpuConfig cfg;
  cfg.stack_storage = 1;
  pid_t pid = -1;
  OffcpuSnapshot snap;
  ASSERT_NO_FATAL_FAILURE(trace_pipe_workload(cfg, GetParam(), &pid, &snap));
  std::set<int32_t> stored;
  auto note = [&](int32_t id, const std::vector<std::string>& frames) {
    if (id < 0) return;
    stored.insert(id);
    EXPECT_FALSE(frames.empty() || has_frame(frames, "[lost: ")) << id;
  };
  for (const OffcpuStack& st : snap.stacks) {
    note(st.user_stack_id, st.user_frames);
    note(st.kernel_stack_id, st.kernel_frames);
  }
  EXPECT_EQ(stored, (std::set<int32_t>{0, AITRACE_OFFCPU_SPILL_ID}));
  EXPECT_GT(snap.lost.stack_collision + snap.lost.stack_full, 0u) << "the pipe workload has more than two stacks";
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
  // Ground truth: the kernel's count of this thread's voluntary switches, not the number of
  // naps: a nap whose timer fires before the thread reaches schedule() does not block (a CI run
  // counted 19 blocks for 20 naps).
  const unsigned long long out0 = test::own_schedstat().voluntary;
  for (int i = 0; i < 20; i++) usleep(500);
  const unsigned long long out1 = test::own_schedstat().voluntary;
  // A block whose switch-in no tracer saw is closed at the thread's next switch-out (docs/offcpu.md,
  // "Switch-ins no tracer sees"): one more nap inside the window gives the last block that one.
  usleep(500);
  (*c)->stop();
  auto snap = (*c)->snapshot();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  const uint64_t counted = blocks();
  EXPECT_GE(out1 - out0, 10u) << "the naps mostly blocked";
  // Every block between the two reads, counted or shown as lost; at most the extra nap and a wait
  // for a page or a lock more.
  EXPECT_GE(counted + snap->lost.switch_in_missed, out1 - out0)
      << "repaired " << snap->switch_ins_repaired << ", missed " << snap->lost.switch_in_missed;
  EXPECT_LE(counted, out1 - out0 + 3);
  for (int i = 0; i < 20; i++) usleep(500);
  EXPECT_EQ(blocks(), counted) << "counted after stop()";
  (*c)->detach();
}

char task_state(uint32_t tid) {
  std::string stat = test::read_file("/proc/self/task/" + std::to_string(tid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

// A thread's switch-outs so far, blocking or preempted (its switch-ins are schedstat's pcount,
// `slices`).
unsigned long long switch_outs(const test::Schedstat& s) { return s.voluntary + s.involuntary; }

uint64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

// One try of the scenario below; `clean` is false when the worker switched out again before
// counting resumed, or just after (a preemption: a held switch-out was unseen too, and the
// switch-in after it, seen or not, moved the kernel's arrival stamp past the one the test is
// about; judged just after counting resumed, so a few clean tries are retried too).
struct HeldWakeRun {
  bool clean = false;
  uint64_t blocked_ns = 0;   // the worker's read began
  uint64_t woke_ns = 0;      // the worker's read returned: after the held switch-in
  uint64_t napped_ns = 0;    // the worker was let go and began its nap
  uint64_t read_ns = 0, read_blocks = 0, repaired = 0, missed = 0;
};

HeldWakeRun run_held_wake(const char* flavour) {
  HeldWakeRun out;
  int wake[2];
  if (pipe(wake) != 0) {
    ADD_FAILURE() << "pipe";
    return out;
  }
  // The worker and this thread on CPUs of their own where there are two: on one, they take turns
  // (this thread polls without sleeping) and the worker is preempted while held.
  const std::vector<int> cpus = test::allowed_cpus();
  std::optional<test::CpuPin> here;
  if (cpus.size() > 1) {
    here.emplace(cpus[0]);
    EXPECT_TRUE(here->pinned()) << "test thread on CPU " << cpus[0];
  }
  std::atomic<bool> go{false}, reading{false}, resumed{false};
  std::atomic<uint64_t> blocked{0}, woke{0}, napped{0}, sleeps{0};
  std::promise<uint32_t> tid_promise;
  std::thread worker([&] {
    std::optional<test::CpuPin> there;
    if (cpus.size() > 1) {
      there.emplace(cpus[1]);
      EXPECT_TRUE(there->pinned()) << "worker on CPU " << cpus[1];
    }
    tid_promise.set_value(static_cast<uint32_t>(syscall(SYS_gettid)));
    // Not a pipe: if this wait is still on when counting starts, its block is not a pipe_read.
    go.wait(false);
    sleeps = test::own_schedstat().voluntary;
    blocked = monotonic_ns();
    reading = true;
    char byte = 0;
    EXPECT_EQ(read(wake[0], &byte, 1), 1);  // the block whose switch-in is held
    woke = monotonic_ns();
    while (!resumed.load()) {
    }
    napped = monotonic_ns();
    usleep(20'000);  // a counted switch-out: it finds the first block still open
  });
  // Whatever fails below, the worker is let go and joined, and the pipes closed.
  struct Release {
    std::function<void()> run;
    ~Release() { run(); }
  } release{[&] {
    resumed = true;
    go = true;
    go.notify_all();
    (void)!write(wake[1], "x", 1);
    if (worker.joinable()) worker.join();
    for (int fd : {wake[0], wake[1]}) close(fd);
  }};
  const uint32_t tid = tid_promise.get_future().get();
  TargetSpec spec;
  spec.tids = {tid};
  auto targets = resolve_targets(spec);
  auto c = targets.ok() ? OffcpuCollector::load({}, *targets, test::features(flavour))
                        : Result<std::unique_ptr<OffcpuCollector>>(targets.error());
  if (!c.ok() || !(*c)->attach(*targets).ok()) {
    ADD_FAILURE() << "load or attach: " << (c.ok() ? "attach" : c.error().message);
    return out;
  }
  (*c)->start();
  go = true;
  go.notify_all();
  // Until the read's switch-out, and 2 ms more: its state 'S' is set before schedule() is even
  // called, and __schedule() counts the switch a few hundred instructions before its tracepoint
  // runs, where a (virtual) CPU may be stopped.
  for (int i = 0; i < 1000; i++) {
    if (reading.load() && test::thread_schedstat(tid).voluntary > sleeps.load() && task_state(tid) == 'S') break;
    usleep(1000);
  }
  usleep(2000);
  EXPECT_EQ(task_state(tid), 'S');
  (*c)->stop();
  usleep(50'000);
  const test::Schedstat held = test::thread_schedstat(tid);
  EXPECT_EQ(write(wake[1], "x", 1), 1);
  // Its switch-in (schedstat's pcount counts it), still held: polled without sleeping, so that
  // the worker spins held for microseconds only.
  const uint64_t deadline = monotonic_ns() + 1'000'000'000u;
  while (test::thread_schedstat(tid).slices == held.slices && monotonic_ns() < deadline) {
  }
  (*c)->start();
  // Judged by the switch-outs too, not by pcount alone: a worker preempted while held and still
  // waiting to run again has pcount unchanged, yet its next switch-in, now seen, would end the
  // block late with no repair. That failed CI in the 6.12 TCG guest (no repair, no loss, a block
  // 1.6 ms past the bound). There, with the host's CPUs kept busy, 6 tries in 176 were preempted
  // while held by this count and clean by pcount, and all 6 ended the block 0.3-9 ms late with no
  // repair. __schedule() counts a switch-out before its tracepoint runs, so one that was held is
  // in the count by now.
  const test::Schedstat now = test::thread_schedstat(tid);
  out.clean = switch_outs(now) == switch_outs(held) && now.slices == held.slices + 1;
  resumed = true;
  worker.join();
  (*c)->stop();
  out.blocked_ns = blocked.load();
  out.woke_ns = woke.load();
  out.napped_ns = napped.load();
  auto snap = (*c)->snapshot();
  (*c)->detach();
  if (!snap.ok()) {
    ADD_FAILURE() << snap.error().message;
    return out;
  }
  for (const OffcpuStack& st : snap->stacks)
    if (has_frame(st.kernel_frames, "pipe_read")) {
      out.read_ns += st.total_ns;
      out.read_blocks += st.count;
    }
  out.repaired = snap->switch_ins_repaired;
  out.missed = snap->lost.switch_in_missed;
  return out;
}

// A switch-in no tracer sees (docs/offcpu.md, "Switch-ins no tracer sees"), made on purpose: the
// worker blocks in a pipe read while counting, and is woken and switched in while the programs
// are held, so the switch that ends its block never reaches them. Its next switch-out, counted
// again, must close the block at the kernel's arrival stamp: not drop it (the next block's
// start used to overwrite it) and not stretch it to a later switch-in.
TEST_P(OffcpuFlavour, ABlockWhoseSwitchInWasNotSeenEndsAtTheKernelsArrivalStamp) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  HeldWakeRun r;
  // A preemption during the hold (microseconds here) would move the stamp, or leave the block to
  // a later seen switch-in: such a try is run again, not judged.
  for (int tries = 0; tries < 5 && !r.clean; tries++) r = run_held_wake(GetParam());
  ASSERT_TRUE(r.clean) << "the worker was preempted while held in 5 tries";
  EXPECT_GE(r.repaired, 1u);  // the nap's switch-in may be one no tracer saw, too
  EXPECT_EQ(r.missed, 0u);
  ASSERT_EQ(r.read_blocks, 1u) << "pipe_read blocks counted: 0 means the read's block was dropped";
  // It began after the worker's read did, before the hold, and ended at the held switch-in: at
  // least the 50 ms between the hold and the write, and before the worker's read returned, plus
  // 1 ms: the stamp is on a run queue clock, converted through readings of it that may be stale
  // (docs/offcpu.md, "Switch-ins no tracer sees"). A block run on to the next seen switch-in would
  // take in the worker's 20 ms nap.
  EXPECT_GE(r.read_ns, 50'000'000u);
  // Where a longer block ended, from the worker's own times: the repair's clock reading is
  // suspect if it ended where the nap began.
  const auto ms_after = [&](uint64_t t) { return (static_cast<double>(r.blocked_ns + r.read_ns) - t) / 1e6; };
  EXPECT_LE(r.read_ns, r.woke_ns - r.blocked_ns + 1'000'000u)
      << "the block ended about " << ms_after(r.woke_ns) << " ms after the worker's read returned, "
      << ms_after(r.napped_ns) << " ms after its nap began";
}

INSTANTIATE_TEST_SUITE_P(Flavours, OffcpuFlavour, ::testing::Values("tp_btf", "raw_tp"));

}  // namespace
}  // namespace aitrace
