// --by thread's statistics kept beside each thread (bpf/sched_threads.bpf.h): what threads that
// exit mid-run leave in their groups, what intervals read while they exit, and the rows a thread
// cannot keep itself. Both flavours: raw_tp keeps every thread in the groups' maps, so the two
// must agree with the same ground truth, the kernel's own schedstat.
#include "aitrace/sched/sched_collector.hpp"
#include "sched_attached.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
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
    EXPECT_EQ(h.sum(), g.sum[m]) << "tid " << g.tid << " metric " << m;
  }
}

TEST_P(SchedThreadsBpf, ExitedThreadsKeepEveryCountAndIntervalsNeverGoBack) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_tgid = 1;
  cfg.targets.tgids = {static_cast<uint32_t>(getpid())};
  auto collector = attached_collector(GetParam(), cfg);
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  // This kernel (6.1+, the initial pid namespace) has everything the thread storage needs.
  EXPECT_EQ(collector->threads_in_task_storage(), btf_flavour());

  // Staggered lives, so threads exit while the reads below run: each exit moves a thread's
  // statistics from its storage to its exit copy between two reads, or during one.
  constexpr int kWorkers = 6, kNaps = 30;
  struct Seen {
    uint32_t tid = 0;
    Schedstat last;  // read by the thread itself just before it returns
  };
  std::vector<Seen> seen(kWorkers);
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
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
    // one may lack.
    EXPECT_GE(g->counters.switches + 3, s.last.slices) << "worker " << s.tid;
    EXPECT_LE(g->counters.switches, s.last.slices + 5) << "worker " << s.tid;
    EXPECT_GE(g->count[AITRACE_SCHED_OFFCPU_SLEEP], s.last.voluntary > 5 ? s.last.voluntary - 5 : 0)
        << "worker " << s.tid;
    expect_buckets_hold_every_sample(*g);
  }
  EXPECT_EQ(snap->lost.thread_stats, 0u);
  EXPECT_EQ(snap->lost.hist_overflow, 0u);
  EXPECT_EQ(snap->lost.groups_overflow, 0u);
}

// A thread keeps AITRACE_SCHED_THREAD_ROWS rows of 16 buckets (one power of two of one metric
// each) itself; a sample whose row finds no room there goes to its group's rows. Naps and spins
// of 12 lengths each, a power of two apart, need more rows than that.
TEST_P(SchedThreadsBpf, RowsAThreadCannotKeepGoToItsGroupAndNoSampleIsLost) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const uint32_t tid = own_tid();
  SchedConfig cfg;
  cfg.group_by = SchedGroupBy::thread;
  cfg.targets.cfg.by_tid = 1;
  cfg.targets.tids = {tid};
  auto collector = attached_collector(GetParam(), cfg);
  ASSERT_TRUE(collector.ok()) << collector.error().message;

  // The default 50 us timer slack would merge the shortest naps into one row.
  const int slack = prctl(PR_GET_TIMERSLACK);
  prctl(PR_SET_TIMERSLACK, 1UL);
  for (int k = 0; k < 12; k++) {
    usleep(20u << k);  // 20 us .. 41 ms asleep
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(1 << k);
    while (std::chrono::steady_clock::now() < until) {
    }  // 1 us .. 2 ms on the CPU
  }
  if (slack > 0) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(slack));
  collector->detach();
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  const SchedGroup* g = group_of_tid(*snap, tid);
  ASSERT_NE(g, nullptr);

  size_t rows = 0;
  std::set<uint32_t> sleep_rows;
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    std::set<uint32_t> r;
    for (auto [bucket, n] : g->buckets[m]) r.insert(bucket / AITRACE_HIST_SUB);
    rows += r.size();
    if (m == AITRACE_SCHED_OFFCPU_SLEEP) sleep_rows = r;
  }
  ASSERT_GT(rows, size_t{AITRACE_SCHED_THREAD_ROWS}) << "the workload must need more rows than a thread keeps";
  EXPECT_GE(sleep_rows.size(), 10u);
  expect_buckets_hold_every_sample(*g);
  EXPECT_GE(g->histogram(AITRACE_SCHED_OFFCPU_SLEEP).max(), 41'000'000u);
  EXPECT_EQ(snap->lost.hist_overflow, 0u);
}

INSTANTIATE_TEST_SUITE_P(Flavours, SchedThreadsBpf, ::testing::Values("tp_btf", "raw_tp"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace aitrace
