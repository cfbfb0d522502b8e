// The aitrace.sched/1 JSON contract, the text report and interval deltas, on hand-built
// snapshots (no kernel needed).
#include "aitrace/sched/sched_report.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

SchedGroup group(uint32_t slot, uint32_t pid, uint32_t tid, const std::string& comm) {
  SchedGroup g;
  g.slot = slot;
  g.id = tid;
  g.pid = pid;
  g.tid = tid;
  g.comm = comm;
  return g;
}

void add_samples(SchedGroup& g, int metric, std::initializer_list<uint64_t> values) {
  for (uint64_t v : values) {
    uint32_t b = aitrace_hist_bucket(v);
    auto& bs = g.buckets[metric];
    auto it = std::find_if(bs.begin(), bs.end(), [&](auto& p) { return p.first == b; });
    if (it == bs.end())
      bs.emplace_back(b, 1);
    else
      it->second++;
    std::sort(bs.begin(), bs.end());
    g.min[metric] = g.count[metric] ? std::min(g.min[metric], v) : v;
    g.max[metric] = std::max(g.max[metric], v);
    g.count[metric]++;
    g.sum[metric] += v;
  }
}

SchedSnapshot sample_snapshot() {
  SchedSnapshot s;
  s.duration_ns = 2000000000;
  s.group_capacity = 10;
  SchedGroup a = group(1, 100, 101, "worker");
  add_samples(a, AITRACE_SCHED_RUNQ_WAKEUP, {1000, 2000, 3000});
  add_samples(a, AITRACE_SCHED_ONCPU, {50000});
  a.counters.switches = 3;
  SchedGroup b = group(2, 100, 102, std::string("bad\x1b[1m\xff", 8));
  add_samples(b, AITRACE_SCHED_RUNQ_PREEMPT, {9000000});
  b.counters = {1, 1, 2, 0, 0};
  b.exited = true;
  SchedGroup other;
  other.other = true;
  other.id = AITRACE_SCHED_GROUP_OTHER;
  s.groups = {a, other, b};
  s.lost.groups_overflow = 0;
  s.lost.hist_overflow = 7;
  return s;
}

TEST(SchedReport, JsonFollowsTheSchema) {
  SchedReportOptions o;
  o.group_by = SchedGroupBy::thread;
  auto j = sched_json(sample_snapshot(), o);
  EXPECT_EQ(j["schema"], "aitrace.sched/1");
  EXPECT_EQ(j["duration_ns"], 2000000000u);
  EXPECT_EQ(j["lost"]["hist_overflow"], 7);
  ASSERT_EQ(j["groups"].size(), 2u) << "an unused `other` is left out";
  // Most run-queue wait first.
  const auto& first = j["groups"][0];
  EXPECT_EQ(first["tid"], 102);
  EXPECT_EQ(first["pid"], 100);
  EXPECT_TRUE(first["cgroup"].is_null());
  EXPECT_EQ(first["exited"], true);
  EXPECT_EQ(first["counters"]["migrations"], 2);
  for (const char* m : {"runq_wakeup", "runq_preempt", "oncpu", "offcpu_sleep", "offcpu_block"}) {
    const auto& h = first["histograms"][m];
    for (const char* k : {"unit", "count", "sum", "min", "max", "p50", "p90", "p99", "p999", "buckets"})
      EXPECT_TRUE(h.contains(k)) << m << "." << k;
  }
  const auto& second = j["groups"][1];
  const auto& wake = second["histograms"]["runq_wakeup"];
  EXPECT_EQ(wake["count"], 3);
  EXPECT_EQ(wake["sum"], 6000);
  EXPECT_EQ(wake["min"], 1000);
  EXPECT_EQ(wake["max"], 3000);
  EXPECT_EQ(wake["buckets"].size(), 3u);
  EXPECT_EQ(wake["buckets"][0][0].get<uint64_t>(), aitrace_hist_bucket_high(aitrace_hist_bucket(1000)));
  // The comm is valid UTF-8 in JSON whatever the kernel had.
  std::string dumped = j.dump();
  EXPECT_TRUE(nlohmann::json::accept(dumped));
}

TEST(SchedReport, ProcessGroupsHaveNoTid) {
  SchedReportOptions o;
  o.group_by = SchedGroupBy::process;
  auto j = sched_json(sample_snapshot(), o);
  for (const auto& g : j["groups"]) EXPECT_TRUE(g["tid"].is_null());
}

TEST(SchedReport, TextShowsLostBarsPercentilesAndEscapes) {
  SchedReportOptions o;
  o.group_by = SchedGroupBy::thread;
  std::string t = sched_text(sample_snapshot(), o);
  EXPECT_NE(t.find("by thread, 2 groups"), std::string::npos) << t;
  EXPECT_NE(t.find("7 histogram samples"), std::string::npos) << t;
  EXPECT_NE(t.find("runq_wakeup (count 3, p50 "), std::string::npos) << t;
  EXPECT_NE(t.find("|*"), std::string::npos) << t;
  EXPECT_NE(t.find("bad\\x1b[1m\\xff"), std::string::npos) << t;
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
  EXPECT_NE(t.find("[exited]"), std::string::npos);
  o.top = 1;
  EXPECT_NE(sched_text(sample_snapshot(), o).find("1 more group not shown"), std::string::npos);
}

TEST(SchedReport, IntervalDeltaSubtractsCountsAndBuckets) {
  SchedSnapshot before = sample_snapshot();
  SchedSnapshot now = sample_snapshot();
  now.duration_ns = 3000000000;
  add_samples(now.groups[0], AITRACE_SCHED_RUNQ_WAKEUP, {4000, 4000});
  now.groups[0].counters.switches += 2;
  now.lost.hist_overflow = 9;
  SchedSnapshot d = sched_snapshot_delta(now, before);
  EXPECT_EQ(d.duration_ns, 1000000000u);
  EXPECT_EQ(d.lost.hist_overflow, 2u);
  ASSERT_EQ(d.groups.size(), 1u) << "idle groups are left out of an interval";
  const SchedGroup& g = d.groups[0];
  EXPECT_EQ(g.count[AITRACE_SCHED_RUNQ_WAKEUP], 2u);
  EXPECT_EQ(g.sum[AITRACE_SCHED_RUNQ_WAKEUP], 8000u);
  EXPECT_EQ(g.counters.switches, 2u);
  Histogram h = g.histogram(AITRACE_SCHED_RUNQ_WAKEUP);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.bucket_count(aitrace_hist_bucket(4000)), 2u);
  EXPECT_EQ(h.bucket_count(aitrace_hist_bucket(1000)), 0u);
}

TEST(SchedReport, HistogramUsesExactMinMaxOnlyWhenTheBucketsAgree) {
  SchedGroup g = group(1, 1, 1, "x");
  add_samples(g, AITRACE_SCHED_ONCPU, {1000, 5000});
  Histogram h = g.histogram(AITRACE_SCHED_ONCPU);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 5000u);
  g.max[AITRACE_SCHED_ONCPU] = 999999;  // a lost update: disagrees with the buckets
  Histogram bounded = g.histogram(AITRACE_SCHED_ONCPU);
  EXPECT_EQ(bounded.max(), aitrace_hist_bucket_high(aitrace_hist_bucket(5000)));
}

TEST(SchedReport, GroupByNamesRoundTrip) {
  for (const char* n : {"thread", "process", "cgroup", "comm", "none"}) {
    auto g = parse_sched_group_by(n);
    ASSERT_TRUE(g.has_value()) << n;
    EXPECT_STREQ(sched_group_by_name(g.value()), n);
  }
  EXPECT_FALSE(parse_sched_group_by("pid").has_value());
}

}  // namespace
}  // namespace aitrace
