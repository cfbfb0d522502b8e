// The migrate programs in the real kernel: every flavour loads and attaches, and the raw_tp
// handlers, driven with BPF_PROG_TEST_RUN, decode each known mm_migrate_pages layout, pair
// starts with ends (nesting included) and count what they cannot time.
#include "aitrace/migrate/migrate_aggregate.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "migrate.skel.h"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

namespace aitrace {
namespace {

using MigrateSkeleton = AITRACE_SKELETON_TYPE(migrate);

// Only the raw_tp handlers, for a given mm_migrate_pages argument count.
MigrateSkeleton load_raw(uint32_t nargs, const ResolvedTargets& targets = {},
                         const CountingWindow* window = nullptr) {
  auto skel = MigrateSkeleton::open("migrate");
  EXPECT_TRUE(skel.ok());
  if (!skel.ok()) return {};
  migrate_bpf* s = skel->get();
  bpf_program* p;
  bpf_object__for_each_program(p, s->obj) {
    const char* name = bpf_program__name(p);
    bpf_program__set_autoload(p, std::string(name).find("_raw") != std::string::npos);
  }
  const_cast<__u32&>(s->rodata->migrate_nargs) = nargs;
  set_filter_config(s, targets);
  Status st = skel->load("migrate", window);
  EXPECT_TRUE(st.ok()) << st.error().message;
  if (st.ok()) {
    Status f = fill_filter_maps(s->maps.filter_tgids, s->maps.filter_tids, targets);
    EXPECT_TRUE(f.ok());
  }
  return std::move(*skel);
}

int fd(bpf_program* p) { return bpf_program__fd(p); }

// The argument array of mm_migrate_pages for a layout (migrate_events.h).
std::vector<uint64_t> end_args(uint32_t nargs, uint64_t ok, uint64_t failed, uint64_t thp_ok, uint64_t thp_failed,
                               uint64_t thp_split, uint64_t folio_split, uint32_t mode, int32_t reason) {
  std::vector<uint64_t> a = {ok, failed};
  if (nargs >= 6) {
    a.push_back(thp_ok);
    a.push_back(thp_failed);
  }
  if (nargs >= 7) a.push_back(thp_split);
  if (nargs >= 8) a.push_back(folio_split);
  a.push_back(mode);
  a.push_back(static_cast<uint64_t>(static_cast<int64_t>(reason)));
  return a;
}

class MigrateLayout : public ::testing::TestWithParam<uint32_t> {};

TEST_P(MigrateLayout, DecodesEveryArgument) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const uint32_t n = GetParam();
  MigrateSkeleton skel = load_raw(n);
  ASSERT_NE(skel.get(), nullptr);
  migrate_bpf* s = skel.get();
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.migrate_start_raw), {2, 5}), 0);
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.migrate_end_raw), end_args(n, 100, 3, 2, 1, 4, 6, 2, 5)), 0);
  auto snap = read_migrate_snapshot(s);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->stats.size(), 1u);
  const auto& r = snap->stats[0];
  EXPECT_EQ(r.tgid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(r.reason, 5);
  EXPECT_EQ(r.mode, 2u);
  EXPECT_EQ(r.counts.calls, 1u);
  EXPECT_EQ(r.counts.succeeded, 100u);
  EXPECT_EQ(r.counts.failed, 3u);
  EXPECT_EQ(r.counts.thp_succeeded, n >= 6 ? 2u : 0u);
  EXPECT_EQ(r.counts.thp_failed, n >= 6 ? 1u : 0u);
  EXPECT_EQ(r.counts.thp_split, n >= 7 ? 4u : 0u);
  EXPECT_EQ(r.counts.large_folio_split, n >= 8 ? 6u : 0u);
  EXPECT_EQ(r.counts.timed_calls, 1u);
  EXPECT_EQ(migrate_latency(*snap).count(), 1u);
  EXPECT_EQ(snap->latency.count(5), 1u);
  EXPECT_FALSE(r.comm.empty());
}

INSTANTIATE_TEST_SUITE_P(ArgCounts, MigrateLayout, ::testing::Values(8u, 7u, 6u, 4u));

TEST(MigrateBpf, NegativeReasonKeepsItsSign) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  MigrateSkeleton skel = load_raw(8);
  ASSERT_NE(skel.get(), nullptr);
  ASSERT_EQ(test::run_raw_tp(fd(skel->progs.migrate_end_raw), end_args(8, 1, 0, 0, 0, 0, 0, 0, -7)), 0);
  auto snap = read_migrate_snapshot(skel.get());
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->stats.size(), 1u);
  EXPECT_EQ(snap->stats[0].reason, -7);
}

TEST(MigrateBpf, LatencyCountsEveryEndWithASeenStart) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  MigrateSkeleton skel = load_raw(8);
  ASSERT_NE(skel.get(), nullptr);
  migrate_bpf* s = skel.get();
  int start = fd(s->progs.migrate_start_raw), end = fd(s->progs.migrate_end_raw);
  auto args = end_args(8, 1, 0, 0, 0, 0, 0, 0, 0);
  ASSERT_EQ(test::run_raw_tp(end, args), 0);  // began "before tracing"
  ASSERT_EQ(test::run_raw_tp(start, {0, 0}), 0);
  ASSERT_EQ(test::run_raw_tp(start, {0, 0}), 0);  // nested call
  ASSERT_EQ(test::run_raw_tp(end, args), 0);
  ASSERT_EQ(test::run_raw_tp(end, args), 0);
  ASSERT_EQ(test::run_raw_tp(end, args), 0);  // unmatched again: the stack is empty
  auto snap = read_migrate_snapshot(s);
  ASSERT_TRUE(snap.ok());
  MigrateCounts t = migrate_totals(*snap);
  EXPECT_EQ(t.calls, 4u);
  EXPECT_EQ(t.timed_calls, 2u);
  EXPECT_EQ(snap->lost.no_start, 2u);
  EXPECT_EQ(migrate_latency(*snap).count(), 2u);
  EXPECT_EQ(migrate_latency(*snap).count() + snap->lost.no_start, t.calls);
  EXPECT_EQ(s->bss->end_events, 4u);
}

// The run's window (counting_window.hpp): the objects given one window are held and let count
// by one store, each sees it through its own mapping of .data.window, and an object without the
// window keeps a hold of its own that neither reaches nor is reached by it.
TEST(CountingWindow, OneStoreHoldsAndReleasesEveryObjectThatSharesIt) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto window = CountingWindow::create();
  ASSERT_TRUE(window.ok()) << window.error().message;
  ASSERT_TRUE(window->held());  // from creation: nothing counts before the driver opens it
  MigrateSkeleton a = load_raw(8, {}, &*window), b = load_raw(8, {}, &*window), alone = load_raw(8);
  ASSERT_TRUE(a.get() && b.get() && alone.get());
  const auto args = end_args(8, 1, 0, 0, 0, 0, 0, 0, 0);
  // One end in each object; what each has counted since load.
  auto end_everywhere = [&] {
    for (MigrateSkeleton* s : {&a, &b, &alone}) EXPECT_EQ(test::run_raw_tp(fd((*s)->progs.migrate_end_raw), args), 0);
  };
  auto counted = [&] {
    return std::vector<uint64_t>{a->bss->end_events, b->bss->end_events, alone->bss->end_events};
  };
  end_everywhere();
  EXPECT_EQ(counted(), (std::vector<uint64_t>{0, 0, 1}));  // `alone` counts from load: its hold is 0
  window->release();
  EXPECT_EQ(a->data_window->aitrace_held, 0u);
  EXPECT_EQ(b->data_window->aitrace_held, 0u);
  end_everywhere();
  EXPECT_EQ(counted(), (std::vector<uint64_t>{1, 1, 2}));
  hold_counting(alone.get(), true);  // its own hold: the shared window stays open
  end_everywhere();
  EXPECT_EQ(counted(), (std::vector<uint64_t>{2, 2, 2}));
  window->hold();
  EXPECT_TRUE(window->held());
  EXPECT_EQ(a->data_window->aitrace_held, 1u);
  end_everywhere();
  EXPECT_EQ(counted(), (std::vector<uint64_t>{2, 2, 2}));
  hold_counting(a.get(), false);  // a collector's own store reaches every object of the window
  EXPECT_FALSE(window->held());
  end_everywhere();
  EXPECT_EQ(counted(), (std::vector<uint64_t>{3, 3, 2}));
}

TEST(MigrateBpf, FilterDropsOtherTasks) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  ResolvedTargets only_init;
  only_init.cfg.by_tgid = 1;
  only_init.tgids = {1};
  MigrateSkeleton skel = load_raw(8, only_init);
  ASSERT_NE(skel.get(), nullptr);
  migrate_bpf* s = skel.get();
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.migrate_start_raw), {0, 0}), 0);
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.migrate_end_raw), end_args(8, 9, 0, 0, 0, 0, 0, 0, 0)), 0);
  auto snap = read_migrate_snapshot(s);
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->stats.empty());
  EXPECT_EQ(snap->lost.no_start, 0u);
  EXPECT_EQ(s->bss->end_events, 1u);  // seen, then filtered
}

TEST(MigrateBpf, NumaMovesAreKeyedByCpus) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  MigrateSkeleton skel = load_raw(8);
  ASSERT_NE(skel.get(), nullptr);
  migrate_bpf* s = skel.get();
  // No task pointer can be made up here: NULL reads as tgid 0, and a NULL partner is allowed.
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.numa_move_raw), {0, 3, 5}), 0);
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.numa_move_raw), {0, 3, 5}), 0);
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.numa_swap_raw), {0, 1, 0, 2}), 0);
  ASSERT_EQ(test::run_raw_tp(fd(s->progs.numa_stick_raw), {0, 1, 0, static_cast<uint64_t>(-1)}), 0);
  auto snap = read_migrate_snapshot(s);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->numa.size(), 3u);
  MigrateHost host;
  host.numa_nodes = 2;
  host.cpu_node = {{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 0}, {5, 1}};
  uint64_t moves = 0, swaps = 0, sticks = 0;
  for (const auto& m : migrate_numa_by_node(*snap, host)) {
    if (m.kind == AITRACE_NUMA_MOVE && m.src_node == 1 && m.dst_node == 1) moves += m.count;
    if (m.kind == AITRACE_NUMA_SWAP && m.src_node == 0 && m.dst_node == 1) swaps += m.count;
    if (m.kind == AITRACE_NUMA_STICK && m.src_node == 0 && m.dst_node == -1) sticks += m.count;
  }
  EXPECT_EQ(moves, 2u);
  EXPECT_EQ(swaps, 1u);
  EXPECT_EQ(sticks, 1u);
}

class MigrateFlavor : public ::testing::TestWithParam<const char*> {};

TEST_P(MigrateFlavor, LoadsAndAttachesEveryHook) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  ResolvedTargets all;
  auto c = MigrateCollector::load(all, test::features(GetParam()));
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE((*c)->attach(all).ok());
  for (const auto& st : (*c)->hooks().statuses()) {
    EXPECT_EQ(st.state, HookStatus::State::attached) << st.event << ": " << st.state_text();
    ASSERT_TRUE(st.kind.has_value());
    EXPECT_STREQ(hook_kind_name(st.kind.value()), GetParam()) << st.event;
  }
  EXPECT_EQ((*c)->hooks().statuses().size(), 7u);  // no fork hook without -- CMD
}

INSTANTIATE_TEST_SUITE_P(Flavors, MigrateFlavor, ::testing::Values("tp_btf", "raw_tp", "tracepoint"));

}  // namespace
}  // namespace aitrace
