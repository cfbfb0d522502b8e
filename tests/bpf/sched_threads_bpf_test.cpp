// --by thread's statistics kept beside each thread (bpf/sched_threads.bpf.h): what threads that
// exit mid-run leave in their groups, what intervals read while they exit, and the rows a thread
// cannot keep itself. Both flavours: raw_tp keeps every thread in the groups' maps, so the two
// must agree with the same ground truth, the kernel's own schedstat.
#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "sched_attached.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace aitrace {
namespace {

using test::attached_collector;
using test::own_schedstat;
using test::Schedstat;

class SchedThreadsBpf : public ::testing::TestWithParam<const char*> {};

bool btf_flavour() { return std::strcmp(::testing::TestWithParam<const char*>::GetParam(), "tp_btf") == 0; }

uint32_t own_tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

const SchedGroup* group_of_tid(const SchedSnapshot& snap, uint32_t tid) {
  for (const auto& g : snap.groups)
    if (!g.other && g.tid == tid) return &g;
  return nullptr;
}

// Every sample of every metric is in the group's buckets: the rows a thread keeps and those its
// group keeps add up to its count.
void expect_buckets_hold_every_sample(const SchedGroup& g) {
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    Histogram h = g.histogram(m);
    EXPECT_EQ(h.count(), g.count[m]) << "tid " << g.tid << " metric " << m;
  }
}

// Every thread of this process, grouped by thread.
SchedConfig this_process_by_thread() {
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_tgid = 1;
  cfg.targets.tgids = {static_cast<uint32_t>(getpid())};
  return cfg;
}

// A worker thread, and its schedstat as it read it just before it stopped napping (and, in
// ThreadsThatExitAfterCountingEnded, once more after counting had ended).
struct Seen {
  uint32_t tid = 0;
  Schedstat last, released;
};

TEST_P(SchedThreadsBpf, ExitedThreadsKeepEveryCountAndIntervalsNeverGoBack) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto collector = attached_collector(GetParam(), this_process_by_thread());
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  // tp_btf on a 6.1+ kernel (bpf_mem_alloc), in the initial pid namespace, without a BPF token.
  const KernelBtfFacts* facts = kernel_btf_facts();
  EXPECT_EQ(collector->threads_in_task_storage(), btf_flavour() && facts && facts->has_bpf_mem_alloc);

  // Staggered lives, so threads exit while the reads below run: each exit moves a thread's
  // statistics from its storage to its exit copy between two reads, or during one.
  constexpr int kWorkers = 6, kNaps = 30;
  std::vector<Seen> seen(kWorkers);
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  workers.reserve(kWorkers);
  for (int w = 0; w < kWorkers; w++)
    workers.emplace_back([&, w] {
      seen[w].tid = own_tid();
      for (int i = 0; i < kNaps * (w + 1); i++) usleep(300);
      seen[w].last = own_schedstat();
      done++;
    });
  std::unordered_map<uint64_t, SchedGroup> last;  // group id -> its previous read
  int reads = 0;
  auto check_read = [&](const SchedSnapshot& snap) {
    for (const auto& g : snap.groups) {
      if (g.other) continue;
      auto [it, fresh] = last.try_emplace(g.id, g);
      if (fresh) continue;
      // Cumulative counts never go back, or an interval would show a negative delta (and a
      // Prometheus counter a reset).
      EXPECT_GE(g.counters.switches, it->second.counters.switches) << "tid " << g.tid << ", read " << reads;
      for (int m = 0; m < AITRACE_SCHED_METRICS; m++)
        EXPECT_GE(g.count[m], it->second.count[m]) << "tid " << g.tid << " metric " << m << ", read " << reads;
      it->second = g;
    }
    reads++;
  };
  while (done.load() < kWorkers || reads < 3) {
    auto snap = collector->read();
    ASSERT_TRUE(snap.ok()) << snap.error().message;
    check_read(*snap);
    usleep(2000);
  }
  for (auto& t : workers) t.join();
  // join() returns at the futex wake in exit_mm(), before do_exit() fires sched_process_exit:
  // wait until every worker's group says it exited.
  Result<SchedSnapshot> snap = collector->read();
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(snap.ok()) << snap.error().message;
    check_read(*snap);
    int exited = 0;
    for (const Seen& s : seen) {
      const SchedGroup* g = group_of_tid(*snap, s.tid);
      exited += g && g->exited;
    }
    if (exited == kWorkers) break;
    usleep(10000);
    snap = collector->read();
  }
  collector->detach();
  snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  check_read(*snap);

  for (const Seen& s : seen) {
    const SchedGroup* g = group_of_tid(*snap, s.tid);
    ASSERT_NE(g, nullptr) << "worker " << s.tid;
    EXPECT_TRUE(g->exited) << "worker " << s.tid;
    // pcount counts every switch-in of the thread's life up to its last read, and the collector
    // was attached before the thread was created. It may see more: the switch-ins after that
    // read, on the way out (returning, glibc's thread exit, do_exit), a preemption or two on this
    // 2-CPU VM. And 3 fewer, as in SchedBpf.LoadsAttachesAndCountsThisThread: a switch handed over
    // by a thread of PID 1 is counted only at the thread's next switch-out, which a thread's last
    // one may lack. The upper bound tells a thread counted once from one counted twice (its copy
    // and its storage both): the tail after the last read (glibc's thread exit, do_exit, with
    // this thread reading every 2 ms and the other workers running) added 7 switch-ins to a life
    // of 130 in the 6.1 TCG guest, and a life here holds 30 naps or more.
    EXPECT_GE(g->counters.switches + 3, s.last.slices) << "worker " << s.tid;
    EXPECT_LT(g->counters.switches, s.last.slices + s.last.slices / 2) << "worker " << s.tid;
    // Every time the thread really went to sleep (voluntary_ctxt_switches) is a sleep or a block
    // sample, not always a sleep: a worker can also wait uninterruptibly (on mmap_lock while this
    // thread's reads allocate, say). CI's sanitizer build counted 181 sleeps against 188 voluntary
    // switches for one worker; in 40 runs of that build here the gap (up to 4) was each time the
    // worker's block samples (61 sleeps + 4 blocks for 65 voluntary). 5 fewer for the same
    // reasons as the switch-ins.
    const uint64_t asleep = g->count[AITRACE_SCHED_OFFCPU_SLEEP] + g->count[AITRACE_SCHED_OFFCPU_BLOCK];
    EXPECT_GE(asleep + 5, s.last.voluntary)
        << "worker " << s.tid << ": " << g->count[AITRACE_SCHED_OFFCPU_SLEEP] << " sleeps, "
        << g->count[AITRACE_SCHED_OFFCPU_BLOCK] << " blocks";
    EXPECT_GE(g->count[AITRACE_SCHED_OFFCPU_SLEEP], static_cast<uint64_t>(kNaps - 5)) << "worker " << s.tid;
    expect_buckets_hold_every_sample(*g);
  }
  EXPECT_EQ(snap->lost.thread_stats, 0u);
  EXPECT_EQ(snap->lost.hist_overflow, 0u);
  EXPECT_EQ(snap->lost.groups_overflow, 0u);
}

// The final read comes after the window closed (stop) and after detach. A thread that exits in
// either gap was counted, and is reaped (gone from the task iterator) before that read: its
// statistics must still be there, from its exit copy or from the read detach() makes.
TEST_P(SchedThreadsBpf, ThreadsThatExitAfterCountingEndedKeepTheirCounts) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto collector = attached_collector(GetParam(), this_process_by_thread());
  ASSERT_TRUE(collector.ok()) << collector.error().message;

  constexpr int kWorkers = 4;  // 0 and 1 exit between stop() and detach(), 2 and 3 after detach()
  std::vector<Seen> seen(kWorkers);
  std::atomic<int> napped{0}, go{0};
  std::vector<std::thread> workers;
  workers.reserve(kWorkers);
  for (int w = 0; w < kWorkers; w++)
    workers.emplace_back([&, w] {
      seen[w].tid = own_tid();
      for (int i = 0; i < 30; i++) usleep(300);
      seen[w].last = own_schedstat();
      napped++;
      // Asleep until released, in the futex itself: std::atomic::wait may yield first, and a
      // yield can be a switch.
      for (int stage = go.load(); stage < (w < 2 ? 1 : 2); stage = go.load())
        syscall(SYS_futex, reinterpret_cast<int*>(&go), FUTEX_WAIT_PRIVATE, stage, nullptr, nullptr, 0);
      seen[w].released = own_schedstat();
    });
  while (napped.load() < kWorkers) usleep(1000);
  collector->stop();
  auto release = [&](int stage, int first) {
    go.store(stage);
    syscall(SYS_futex, reinterpret_cast<int*>(&go), FUTEX_WAKE_PRIVATE, kWorkers, nullptr, nullptr, 0);
    workers[first].join();
    workers[first + 1].join();
    usleep(50000);  // past do_exit and the reaping of both
  };
  release(1, 0);
  collector->detach();
  release(2, 2);
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  for (const Seen& s : seen) {
    const SchedGroup* g = group_of_tid(*snap, s.tid);
    ASSERT_NE(g, nullptr) << "worker " << s.tid;
    // pcount at the worker's last read counts every switch-in of its life so far, and the one it
    // read once released (after stop()) every switch-in the collector could have counted: the
    // switch-ins in between, after the read and before the futex wait, are not bounded (CI's ASAN
    // build: 4, a wait for mmap_lock among them, likely). 3 fewer, as in
    // SchedBpf.LoadsAttachesAndCountsThisThread: a switch handed over by a thread of PID 1 is
    // counted only at a switch-out, which a thread's last one may lack.
    EXPECT_GE(g->counters.switches + 3, s.last.slices) << "worker " << s.tid;
    EXPECT_LE(g->counters.switches, s.released.slices) << "worker " << s.tid;
  }
  EXPECT_EQ(snap->lost.thread_stats, 0u);
}

// A thread keeps up to AITRACE_SCHED_THREAD_ROWS rows of 16 buckets (one power of two of one
// metric each) itself; a sample whose row finds no room there goes to its group's rows. With 2
// rows, naps (a sleep, a run-queue wait and an on-CPU stretch each, of varying lengths) need more.
TEST_P(SchedThreadsBpf, RowsAThreadCannotKeepGoToItsGroupAndNoSampleIsLost) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const uint32_t tid = own_tid();
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_tid = 1;
  cfg.targets.tids = {tid};
  cfg.thread_rows = 2;
  auto collector = attached_collector(GetParam(), cfg);
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  for (int k = 0; k < 50; k++) {
    usleep(200u << (k % 6));  // 200 us .. 6.4 ms asleep
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(1 << (k % 10));
    while (std::chrono::steady_clock::now() < until) {
    }  // 1 us .. 0.5 ms on the CPU
  }
  collector->detach();
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  const SchedGroup* g = group_of_tid(*snap, tid);
  ASSERT_NE(g, nullptr);

  size_t rows = 0;
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    std::set<uint32_t> r;
    for (auto [bucket, n] : g->buckets[m]) r.insert(bucket / AITRACE_HIST_SUB);
    rows += r.size();
  }
  ASSERT_GT(rows, size_t{cfg.thread_rows}) << "the workload must need more rows than the thread keeps";
  EXPECT_GE(g->count[AITRACE_SCHED_OFFCPU_SLEEP], 45u);
  expect_buckets_hold_every_sample(*g);
  // An hrtimer never fires early; a sleep starts at the switch-out, a few us after its timer was
  // set, so the longest naps measure at least their length less those.
  EXPECT_GE(g->histogram(AITRACE_SCHED_OFFCPU_SLEEP).max(), 6'300'000u);
  EXPECT_EQ(snap->lost.hist_overflow, 0u);
}

// The exec of a non-leader thread (tests/workloads/exec_thread): the thread takes the leader's
// tid and start time, so its group id becomes the leader's, whose group already holds the
// leader's statistics (and, with task storage, its exit copy). `seen`: the thread was traced
// before, under its own id, and keeps those samples there. `hidden` (another comm until the exec
// renames it): its first traced event is after the exec, under the leader's id, and a second
// owner of the leader's slot would be shadowed by the leader's copy and lose its samples.
class SchedThreadsExec : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(SchedThreadsExec, ANonLeaderExecCountsBeforeAndAfterInTheRightGroups) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const auto [flavour, how] = GetParam();
  const bool hidden = std::strcmp(how, "hidden") == 0;
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_comm = 1;
  std::strncpy(cfg.targets.cfg.comm, "exec_thread", sizeof(cfg.targets.cfg.comm) - 1);
  auto collector = attached_collector(flavour, cfg);
  ASSERT_TRUE(collector.ok()) << collector.error().message;

  constexpr int kNaps = 20, kAfterMs = 100;
  const std::string err = ::testing::TempDir() + "exec_thread.err";
  test::Background w({test::workload("exec_thread"), std::to_string(kNaps), std::to_string(kAfterMs), how}, err);
  ASSERT_EQ(w.wait(), 0) << test::read_file(err);
  collector->detach();
  const std::string text = test::read_file(err);
  const auto tids = test::ids_after(text, "tid"), pids = test::ids_after(text, "pid");
  ASSERT_EQ(tids.size(), 1u) << text;
  ASSERT_EQ(pids.size(), 1u) << text;
  const auto napper = static_cast<uint32_t>(*tids.begin()), leader = static_cast<uint32_t>(*pids.begin());
  ASSERT_NE(napper, leader);
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;

  const SchedGroup* before = group_of_tid(*snap, napper);
  if (hidden) {
    EXPECT_EQ(before, nullptr) << "the napper was traced under another comm";
  } else {
    ASSERT_NE(before, nullptr);
    // 1 ms naps; as in the tests above, a nap whose timer fires first does not sleep.
    EXPECT_GE(before->count[AITRACE_SCHED_OFFCPU_SLEEP], static_cast<uint64_t>(kNaps - 5));
    expect_buckets_hold_every_sample(*before);
  }
  // After the exec the thread is the leader: its one kAfterMs sleep is in the leader's group,
  // beside the leader's own wait in join() (as long as the naps, far below kAfterMs).
  const SchedGroup* after = group_of_tid(*snap, leader);
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE(after->exited);
  EXPECT_GE(after->histogram(AITRACE_SCHED_OFFCPU_SLEEP).max(), kAfterMs * 1'000'000u - 100'000u);
  expect_buckets_hold_every_sample(*after);
  EXPECT_EQ(snap->lost.thread_stats, 0u);
}

INSTANTIATE_TEST_SUITE_P(Flavours, SchedThreadsExec,
                         ::testing::Combine(::testing::Values("tp_btf", "raw_tp"), ::testing::Values("seen", "hidden")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                         });

INSTANTIATE_TEST_SUITE_P(Flavours, SchedThreadsBpf, ::testing::Values("tp_btf", "raw_tp"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace aitrace
