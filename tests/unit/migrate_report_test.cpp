// The migrate report from a hand-built snapshot: JSON contract, grouping, deltas, escaping,
// the single-node NUMA note and the remarks for AI hosts.
#include "aitrace/migrate/migrate_report.hpp"
#include "aitrace/migrate/migrate_aggregate.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

namespace aitrace {
namespace {

// A fixed naming, so the test does not depend on the host's BTF.
EnumNames test_reasons() { return EnumNames::from_btf(nullptr, "", ""); }

MigrateStatsRow row(uint32_t tgid, const char* comm, int32_t reason, uint32_t mode, uint64_t calls, uint64_t ok,
                    uint64_t failed, uint64_t cgroup = 1) {
  MigrateStatsRow r;
  r.tgid = tgid;
  r.comm = comm;
  r.reason = reason;
  r.mode = mode;
  r.cgroup_id = cgroup;
  r.counts.calls = calls;
  r.counts.succeeded = ok;
  r.counts.failed = failed;
  r.counts.timed_calls = calls;
  r.counts.latency_sum_ns = calls * 1000;
  return r;
}

MigrateSnapshot sample() {
  MigrateSnapshot s;
  s.stats.push_back(row(40, "kcompactd0", 0, 0, 3, 300, 2));
  s.stats.push_back(row(1234, "train\x1b[31m", 0, 2, 1, 50, 0, 7));
  s.stats.push_back(row(1234, "train\x1b[31m", 99, 2, 2, 10, 0, 7));  // a reason this kernel would not name
  s.latency[0][aitrace_hist_bucket(1000)] = 4;
  s.latency[99][aitrace_hist_bucket(1000)] = 2;
  s.lost.no_start = 1;
  return s;
}

MigrateReportContext context(const EnumNames* reasons) {
  MigrateReportContext ctx;
  ctx.reasons = reasons;
  ctx.duration_ns = 2'000'000'000;
  ctx.host.numa_nodes = 1;
  ctx.hooks.push_back({"migrate:mm_migrate_pages", "attached (tp_btf)", true});
  return ctx;
}

TEST(MigrateReport, JsonFollowsTheContract) {
  EnumNames none = test_reasons();
  auto ctx = context(&none);
  auto j = migrate_json(sample(), ctx);
  for (const char* envelope_key : {"schema", "duration_ns", "lost", "hooks", "group_by", "interval"})
    EXPECT_FALSE(j.contains(envelope_key)) << envelope_key << " is the driver's (report_envelope)";
  EXPECT_EQ(j["totals"]["calls"], 6u);
  EXPECT_EQ(j["totals"]["pages_succeeded"], 360u);
  EXPECT_EQ(j["totals"]["pages_failed"], 2u);
  EXPECT_EQ(j["totals"]["thp_succeeded"], 0u);
  EXPECT_EQ(j["totals"]["thp_failed"], 0u);
  EXPECT_EQ(migrate_lost_json(sample())["calls_without_start"], 1u);
  EXPECT_EQ(j["latency"]["count"], 6u);
  // The kernel keeps buckets only: min/max are bucket bounds and named so.
  EXPECT_FALSE(j["latency"].contains("max"));
  EXPECT_EQ(j["latency"]["max_bound"].get<uint64_t>(), aitrace_hist_bucket_high(aitrace_hist_bucket(1000)));
  // Without names every reason is its number, never a guess.
  ASSERT_TRUE(j["by_reason"].contains("0"));
  ASSERT_TRUE(j["by_reason"].contains("99"));
  EXPECT_EQ(j["by_reason"]["99"]["reason"], 99);
  EXPECT_EQ(j["by_reason"]["99"]["pages_succeeded"], 10u);
  EXPECT_EQ(j["by_reason"]["0"]["latency"]["count"], 4u);
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["pid"], 40u);  // busiest first
  EXPECT_EQ(j["groups"][1]["pid"], 1234u);
  EXPECT_EQ(j["groups"][1]["pages_succeeded"], 60u);
  EXPECT_TRUE(j["numa_moves"].is_array());
  EXPECT_EQ(j["numa"]["nodes"], 1);
  EXPECT_TRUE(j["numa"].contains("note"));
}

TEST(MigrateReport, KernelNamesAreUsedWhenKnown) {
  const EnumNames& kernel = migrate_reason_names();
  if (kernel.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("no enum migrate_reason in this kernel's BTF");
  auto ctx = context(&kernel);
  auto j = migrate_json(sample(), ctx);
  EXPECT_TRUE(j["by_reason"].contains("compaction"));
  EXPECT_TRUE(j["by_reason"].contains("99"));  // not a reason this kernel has: its number
  EXPECT_EQ(j["groups"][1]["reasons"].size(), 2u);
}

TEST(MigrateReport, PinningAndDemotionRemarksUseKernelNames) {
  const EnumNames& kernel = migrate_reason_names();
  int64_t pin = -1, demote = -1;
  for (const auto& [v, n] : kernel.all()) {
    if (n == "longterm_pin") pin = v;
    if (n == "demotion") demote = v;
  }
  // Both reasons exist from 5.15 on, so on every CI kernel (6.1 guest, host).
  if (pin < 0 || demote < 0) AITRACE_REQUIRE_ENV_OR_SKIP("this kernel names no longterm_pin/demotion reason");
  MigrateSnapshot s;
  s.stats.push_back(row(7, "trainer", static_cast<int32_t>(pin), 2, 1, 512, 0));
  s.stats.push_back(row(8, "kswapd0", static_cast<int32_t>(demote), 0, 1, 64, 0));
  auto ctx = context(&kernel);
  std::string all;
  for (const auto& r : migrate_remarks(s, ctx)) all += r + "\n";
  EXPECT_NE(all.find("512 pages were migrated for long-term pinning"), std::string::npos) << all;
  EXPECT_NE(all.find("64 pages were demoted"), std::string::npos) << all;
  EXPECT_NE(migrate_text(s, ctx).find("remarks:"), std::string::npos);
}

TEST(MigrateReport, GroupsByCgroupAndReason) {
  EnumNames none = test_reasons();
  auto ctx = context(&none);
  ctx.by = MigrateGroupBy::cgroup;
  ctx.cgroup_paths[7] = "/job.slice";
  auto j = migrate_json(sample(), ctx);
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["cgroup_id"], 1u);
  EXPECT_EQ(j["groups"][1]["cgroup"], "/job.slice");
  ctx.by = MigrateGroupBy::reason;
  j = migrate_json(sample(), ctx);
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["reason"], "0");
  ctx.by = MigrateGroupBy::none;
  EXPECT_TRUE(migrate_json(sample(), ctx)["groups"].empty());
}

TEST(MigrateReport, TextEscapesCommAndExplainsSingleNode) {
  EnumNames none = test_reasons();
  auto ctx = context(&none);
  std::string t = migrate_text(sample(), ctx);
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
  EXPECT_NE(t.find("train\\x1b[31m"), std::string::npos) << t;
  EXPECT_NE(t.find("single NUMA node"), std::string::npos) << t;
  EXPECT_NE(t.find("lost: 1 calls without a seen start"), std::string::npos) << t;
  EXPECT_NE(t.find("kcompactd"), std::string::npos);
}

TEST(MigrateReport, MultiNodeMovesAreTabledByNode) {
  EnumNames none = test_reasons();
  auto ctx = context(&none);
  ctx.host.numa_nodes = 2;
  ctx.host.cpu_node = {{0, 0}, {1, 0}, {2, 1}, {3, 1}};
  MigrateSnapshot s;
  s.numa.push_back({AITRACE_NUMA_MOVE, 0, 2, 10, 3});
  s.numa.push_back({AITRACE_NUMA_MOVE, 1, 3, 11, 2});
  s.numa.push_back({AITRACE_NUMA_SWAP, 3, 0, 10, 1});
  auto j = migrate_json(s, ctx);
  ASSERT_EQ(j["numa_moves"].size(), 2u);
  EXPECT_EQ(j["numa_moves"][0]["kind"], "move");
  EXPECT_EQ(j["numa_moves"][0]["src_node"], 0);
  EXPECT_EQ(j["numa_moves"][0]["dst_node"], 1);
  EXPECT_EQ(j["numa_moves"][0]["count"], 5u);
  EXPECT_FALSE(j["numa"].contains("note"));
  std::string t = migrate_text(s, ctx);
  EXPECT_NE(t.find("move   node 0 -> node 1: 5"), std::string::npos) << t;
  EXPECT_NE(t.find("no page migrations"), std::string::npos);
}

TEST(MigrateReport, DeltaSubtractsTheEarlierSnapshot) {
  MigrateSnapshot before = sample();
  MigrateSnapshot now = sample();
  now.stats[0].counts.calls += 2;
  now.stats[0].counts.succeeded += 20;
  now.latency[0][aitrace_hist_bucket(1000)] += 2;
  now.lost.no_start = 3;
  MigrateSnapshot d = snapshot_delta(now, before);
  ASSERT_EQ(d.stats.size(), 1u);  // unchanged rows drop out
  EXPECT_EQ(d.stats[0].tgid, 40u);
  EXPECT_EQ(d.stats[0].counts.calls, 2u);
  EXPECT_EQ(d.stats[0].counts.succeeded, 20u);
  EXPECT_EQ(migrate_latency(d).count(), 2u);
  EXPECT_EQ(d.lost.no_start, 2u);
}

// Many processes x reasons x modes x cgroups (a busy host with --by cgroup): every row is paired
// with its own earlier row, and the delta stays linear in the rows. The bound is generous: the
// pairwise scan this replaced needs 10^10 comparisons for 100k rows (tens of seconds here), a
// keyed lookup well under a second even on a loaded 2-CPU host.
TEST(MigrateReport, DeltaOfManyRowsPairsEachRowWithItsOwnEarlierRow) {
  constexpr uint32_t kRows = 100000;
  MigrateSnapshot before, now;
  for (uint32_t i = 0; i < kRows; i++) {
    MigrateStatsRow r;
    r.tgid = 1000 + i / 40;
    r.reason = static_cast<int32_t>(i % 5);
    r.mode = (i / 5) % 2;
    r.cgroup_id = 7 + (i / 10) % 4;
    r.counts.calls = 10 + i;
    r.counts.succeeded = 100 + i;
    before.stats.push_back(r);
    if (i % 3 == 0) {  // every third row moved on; the rest is unchanged and drops out
      r.counts.calls += 1 + i % 7;
      r.counts.succeeded += uint64_t{2} * (i % 11);
    }
    now.stats.push_back(r);
  }
  // One row new since `before`: kept whole.
  MigrateStatsRow fresh;
  fresh.tgid = 1;
  fresh.counts.calls = 4;
  now.stats.push_back(fresh);
  std::reverse(before.stats.begin(), before.stats.end());  // order must not matter

  auto t0 = std::chrono::steady_clock::now();
  MigrateSnapshot d = snapshot_delta(now, before);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(5)) << "the delta is not linear in the rows";

  ASSERT_EQ(d.stats.size(), (kRows + 2) / 3 + 1);
  for (size_t k = 0; k + 1 < d.stats.size(); k++) {
    uint32_t i = static_cast<uint32_t>(k) * 3;
    ASSERT_EQ(d.stats[k].tgid, 1000 + i / 40) << k;
    ASSERT_EQ(d.stats[k].reason, static_cast<int32_t>(i % 5)) << k;
    ASSERT_EQ(d.stats[k].counts.calls, 1 + i % 7) << k;
    ASSERT_EQ(d.stats[k].counts.succeeded, 2 * (i % 11)) << k;
  }
  EXPECT_EQ(d.stats.back().tgid, 1u);
  EXPECT_EQ(d.stats.back().counts.calls, 4u);
}

TEST(MigrateReport, RemarksForAiHosts) {
  EnumNames none = test_reasons();
  auto ctx = context(&none);
  ctx.host.numa_balancing = 1;
  ctx.host.gpu_devices = {"/dev/nvidia0"};
  auto remarks = migrate_remarks(sample(), ctx);
  auto has = [&](const char* what) {
    for (const auto& r : remarks)
      if (r.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("NUMA balancing is on"));
  EXPECT_TRUE(has("/dev/nvidia0"));
  EXPECT_TRUE(has("kcompactd (background compaction) moved 300 pages"));
  EXPECT_TRUE(has("2 pages failed"));
  ctx.host.gpu_devices.clear();
  remarks = migrate_remarks(sample(), ctx);
  EXPECT_FALSE(has("NUMA balancing is on"));
}

}  // namespace
}  // namespace aitrace
