// One group counted on two CPUs at once: a dense slot keeps one copy of its totals per CPU
// (bpf/sched_groups.bpf.h, dense_totals) and a sparse slot one shared copy. Either way the
// group must report both CPUs' samples, checked against the threads' own schedstat: counts
// that add up, the least minimum and the greatest maximum.
#include "aitrace/sched/sched_collector.hpp"
#include "sched_attached.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <tuple>

namespace aitrace {
namespace {

using test::attached_collector;
using test::own_schedstat;
using test::Schedstat;

class SchedGroupCpus : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

// A thread pinned to one CPU that naps `naps` times for `nap_us`. Its schedstat is read before
// the collector attaches (`pre`), around the naps (`before`, `after`) and after the collector
// detached (`final`): every switch the collector could count lies between `pre` and `final`,
// every nap between `before` and `after`.
struct Napper {
  int cpu = 0;
  int nap_us = 0;
  std::atomic<uint32_t> tid{0};
  std::atomic<bool> napped{false};
  Schedstat pre, before, after, final;
  bool pinned = false;

  void run(const std::shared_future<void>& go, const std::shared_future<void>& end, int naps) {
    test::CpuPin pin(cpu);
    pinned = pin.pinned();
    pre = own_schedstat();
    tid = static_cast<uint32_t>(syscall(SYS_gettid));
    go.wait();
    before = own_schedstat();
    for (int i = 0; i < naps; i++) usleep(static_cast<useconds_t>(nap_us));
    after = own_schedstat();
    napped = true;
    end.wait();
    final = own_schedstat();
  }
};

TEST_P(SchedGroupCpus, AGroupOnTwoCpusReportsBothCpusSamples) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const auto [flavour, slots] = GetParam();
  const std::vector<int> cpus = test::allowed_cpus();
  ASSERT_FALSE(cpus.empty());

  // Short naps on the first CPU, long ones on the second: the group's minimum can only come
  // from the first CPU's copy, its maximum only from the second's.
  constexpr int kNaps = 40, kShortUs = 300, kLongUs = 5000;
  Napper short_naps, long_naps;
  short_naps.cpu = cpus[0];
  short_naps.nap_us = kShortUs;
  long_naps.cpu = cpus.size() > 1 ? cpus[1] : cpus[0];  // one CPU: one copy, the same truths
  long_naps.nap_us = kLongUs;
  std::promise<void> release, finish;
  std::shared_future<void> go = release.get_future().share(), end = finish.get_future().share();
  std::thread a([&] { short_naps.run(go, end, kNaps); });
  std::thread b([&] { long_naps.run(go, end, kNaps); });
  while (!short_naps.tid || !long_naps.tid) usleep(100);

  SchedConfig cfg;  // by process: both threads in this process's group
  cfg.targets.cfg.by_tid = 1;
  cfg.targets.tids = {short_naps.tid, long_naps.tid};
  // mixed: only slot 0 ("other") is dense, so this process's group is sparse while the programs
  // also update a dense slot in the same run (slot_totals() takes both maps).
  if (std::string(slots) == "sparse") cfg.dense_groups = 0;
  if (std::string(slots) == "mixed") cfg.dense_groups = 1;
  auto collector = attached_collector(flavour, cfg);
  release.set_value();
  while (!short_naps.napped || !long_naps.napped) usleep(1000);
  if (collector.ok()) collector->detach();
  finish.set_value();
  a.join();
  b.join();
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_TRUE(short_naps.pinned && long_naps.pinned) << "a napper was not on its CPU";

  const SchedGroup* mine = nullptr;
  for (const auto& g : snap->groups)
    if (!g.other && g.pid == static_cast<uint32_t>(getpid())) mine = &g;
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->slot < cfg.dense_groups, std::string(slots) == "dense") << "slot " << mine->slot;

  // Every real sleep (voluntary switch) of both threads' naps is a sleep or block sample, and
  // every switch-in is counted, less at most 3 per thread that no program saw (as in
  // sched_bpf_test: no BPF program runs while a PID-1 thread is current); and nothing is
  // counted that did not happen between `pre` and `final`.
  const auto sum = [&](unsigned long long Schedstat::*field, Schedstat Napper::*from, Schedstat Napper::*to) {
    return (short_naps.*to.*field - short_naps.*from.*field) + (long_naps.*to.*field - long_naps.*from.*field);
  };
  const uint64_t asleep = mine->count[AITRACE_SCHED_OFFCPU_SLEEP] + mine->count[AITRACE_SCHED_OFFCPU_BLOCK];
  EXPECT_GE(asleep + 6, sum(&Schedstat::voluntary, &Napper::before, &Napper::after))
      << "sleeps " << mine->count[AITRACE_SCHED_OFFCPU_SLEEP] << ", blocks " << mine->count[AITRACE_SCHED_OFFCPU_BLOCK];
  EXPECT_LE(asleep, sum(&Schedstat::voluntary, &Napper::pre, &Napper::final));
  EXPECT_GE(mine->counters.switches + 6, sum(&Schedstat::slices, &Napper::before, &Napper::after));
  EXPECT_LE(mine->counters.switches, sum(&Schedstat::slices, &Napper::pre, &Napper::final));

  // The first CPU's naps bring the minimum under 2 ms (its naps sleep ~300-350 us), the second
  // CPU's the maximum over 4 ms (a 5 ms nap's timer never fires early; of 40, not every one is
  // cut short by a preemption before its switch-out). A sleep is never 0 ns: a copy whose
  // minimum was not seeded would report 0.
  EXPECT_GT(mine->min[AITRACE_SCHED_OFFCPU_SLEEP], 0u);
  EXPECT_LT(mine->min[AITRACE_SCHED_OFFCPU_SLEEP], 2'000'000u);
  EXPECT_GE(mine->max[AITRACE_SCHED_OFFCPU_SLEEP], 4'000'000u);
  // A sparse slot counts in its totals and its buckets apart: they must agree. (A dense slot's
  // count is its buckets' sum, so there this holds by construction.)
  EXPECT_EQ(mine->histogram(AITRACE_SCHED_OFFCPU_SLEEP).count(), mine->count[AITRACE_SCHED_OFFCPU_SLEEP]);
  // Both threads' naps are in the sum: 40 of at least ~5 ms and 40 of at least ~0.3 ms.
  EXPECT_GE(mine->sum[AITRACE_SCHED_OFFCPU_SLEEP], uint64_t{kNaps - 6} * (kLongUs + kShortUs) * 1000u);
  EXPECT_EQ(snap->lost.groups_overflow, 0u);
}

INSTANTIATE_TEST_SUITE_P(Flavours, SchedGroupCpus,
                         ::testing::Combine(::testing::Values("tp_btf", "raw_tp"), ::testing::Values("dense", "sparse", "mixed")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace aitrace
