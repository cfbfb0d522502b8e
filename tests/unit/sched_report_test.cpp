// The aitrace.sched/2 JSON contract, the text report and interval deltas, on hand-built
// snapshots (no kernel needed).
#include "aitrace/sched/sched_owner_groups.hpp"
#include "aitrace/sched/sched_report.hpp"

#include "aitrace/output/text_table.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

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
  EXPECT_EQ(sched_lost_json(sample_snapshot().lost)["hist_overflow"], 7);
  for (const char* envelope_key : {"schema", "duration_ns", "lost", "hooks", "group_by", "interval"})
    EXPECT_FALSE(j.contains(envelope_key)) << envelope_key << " is the driver's (report_envelope)";
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
  o.hist = true;
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

// The cells of one table row from the right: the label columns hold spaces (comms may).
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> w;
  std::istringstream in(line);
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

TEST(SchedReport, CompactViewIsOneRowPerGroupWithTheJsonNumbers) {
  SchedReportOptions o;
  o.group_by = SchedGroupBy::thread;
  SchedSnapshot snap = sample_snapshot();
  std::string t = sched_text(snap, o);
  EXPECT_EQ(t.find("|*"), std::string::npos) << "no bars without --hist";
  EXPECT_NE(t.find("longest run-queue wait first"), std::string::npos) << t;
  EXPECT_NE(t.find("lost: 7 histogram samples (hist map full)\n"), std::string::npos) << t;
  std::vector<std::string> lines;
  std::istringstream in(t);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  // header, lost, blank, the titles over the metric blocks, column headers, two groups.
  ASSERT_EQ(lines.size(), 7u) << t;
  EXPECT_NE(lines[3].find("runq after wakeup"), std::string::npos) << t;
  EXPECT_EQ(words(lines[4]).front(), "TID");
  auto j = sched_json(snap, o);
  for (size_t row = 0; row < 2; row++) {
    auto w = words(lines[5 + row]);
    const auto& g = j["groups"][row];
    ASSERT_EQ(w.front(), std::to_string(g["tid"].get<int>())) << "rows in the JSON's order";
    // 5 metrics x (count p50 p99 max) + switches, involuntary, migrations, from the right.
    ASSERT_GE(w.size(), 23u + 3u);
    const size_t base = w.size() - 23;
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      const auto& h = g["histograms"][kSchedMetricNames[m]];
      const std::string* cell = &w[base + 4 * static_cast<size_t>(m)];
      if (h["count"] == 0) {
        for (int k = 0; k < 4; k++) EXPECT_EQ(cell[k], "-");
        continue;
      }
      EXPECT_EQ(cell[0], std::to_string(h["count"].get<uint64_t>()));
      EXPECT_EQ(cell[1], format_ns_short(h["p50"].get<uint64_t>()));
      EXPECT_EQ(cell[2], format_ns_short(h["p99"].get<uint64_t>()));
      EXPECT_EQ(cell[3], format_ns_short(h["max"].get<uint64_t>()));
    }
    EXPECT_EQ(w[base + 20], std::to_string(g["counters"]["switches"].get<uint64_t>()));
    EXPECT_EQ(w[base + 21], std::to_string(g["counters"]["involuntary"].get<uint64_t>()));
    EXPECT_EQ(w[base + 22], std::to_string(g["counters"]["migrations"].get<uint64_t>()));
  }
  EXPECT_NE(lines[5].find("bad\\x1b[1m\\xff [exited]"), std::string::npos) << t;
}

TEST(SchedReport, LostIsNoneOnlyWhenNothingWasLost) {
  SchedReportOptions o;
  SchedSnapshot snap = sample_snapshot();
  snap.lost = {};
  EXPECT_NE(sched_text(snap, o).find("\nlost: none\n"), std::string::npos);
  snap.lost.transitions_missed = 2;
  snap.lost.groups_overflow = 1;
  std::string t = sched_text(snap, o);
  EXPECT_NE(t.find("\nlost: 1 tasks to `other` (group map full at 10), 2 transitions missed\n"), std::string::npos) << t;
}

// Sorted by the longest single wait, not the most waiting in all: a group with one 9 ms wait
// comes before one with many short ones that add up to more.
TEST(SchedReport, OrderIsByTheLongestRunQueueWait) {
  SchedSnapshot s;
  SchedGroup many = group(1, 1, 1, "many");
  add_samples(many, AITRACE_SCHED_RUNQ_WAKEUP, {1000000, 1000000, 1000000, 1000000, 1000000, 1000000, 1000000,
                                                 1000000, 1000000, 1000000, 1000000});
  SchedGroup one = group(2, 2, 2, "one");
  add_samples(one, AITRACE_SCHED_RUNQ_PREEMPT, {9000000});
  s.groups = {many, one};
  auto order = sched_report_order(s);
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0]->comm, "one");
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
  // The kernel's min/max are since attach: an interval's are bucket bounds, named so in JSON, for
  // the empty metrics too (a document's keys do not depend on what was counted).
  EXPECT_FALSE(h.exact_min_max());
  EXPECT_FALSE(g.histogram(AITRACE_SCHED_OFFCPU_BLOCK).exact_min_max());
  const auto interval_json = sched_json(d, {});
  const auto& wake = interval_json["groups"][0]["histograms"]["runq_wakeup"];
  EXPECT_FALSE(wake.contains("max")) << wake.dump();
  EXPECT_EQ(wake["max_bound"].get<uint64_t>(), aitrace_hist_bucket_high(aitrace_hist_bucket(4000)));
  EXPECT_EQ(wake["min_bound"].get<uint64_t>(), aitrace_hist_bucket_low(aitrace_hist_bucket(4000)));
  EXPECT_TRUE(sample_snapshot().groups[0].histogram(AITRACE_SCHED_OFFCPU_BLOCK).exact_min_max())
      << "the whole run's empty metrics have the same keys as its others";
  EXPECT_EQ(h.bucket_count(aitrace_hist_bucket(4000)), 2u);
  EXPECT_EQ(h.bucket_count(aitrace_hist_bucket(1000)), 0u);
}

TEST(SchedReport, HistogramUsesExactMinMaxOnlyWhenTheBucketsAgree) {
  SchedGroup g = group(1, 1, 1, "x");
  add_samples(g, AITRACE_SCHED_ONCPU, {1000, 5000});
  Histogram h = g.histogram(AITRACE_SCHED_ONCPU);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 5000u);
  EXPECT_TRUE(h.exact_min_max());
  g.max[AITRACE_SCHED_ONCPU] = 999999;  // a lost update: disagrees with the buckets
  Histogram bounded = g.histogram(AITRACE_SCHED_ONCPU);
  EXPECT_EQ(bounded.max(), aitrace_hist_bucket_high(aitrace_hist_bucket(5000)));
  EXPECT_FALSE(bounded.exact_min_max()) << "bucket bounds are reported as such (max_bound)";
}

TEST(SchedReport, GroupByNamesRoundTrip) {
  for (const char* n : {"thread", "process", "cgroup", "comm", "none", "container", "pod"}) {
    auto g = parse_sched_group_by(n);
    ASSERT_TRUE(g.has_value()) << n;
    EXPECT_STREQ(sched_group_by_name(g.value()), n);
  }
  EXPECT_FALSE(parse_sched_group_by("pid").has_value());
}

// --by container: the cgroups of one container (its scope and a sub-cgroup) make one group whose
// counts, sums and buckets are the cgroups' added up; tasks in no container make `host`, gone
// cgroups `removed`; every output names the container.
TEST(SchedReport, ContainerGroupsMergeTheirCgroups) {
  const std::string id(64, 'c');
  const std::string scope = "/system.slice/docker-" + id + ".scope";
  SchedSnapshot s;
  SchedGroup a = group(1, 10, 10, "nginx"), b = group(2, 11, 11, "worker"), h = group(3, 1, 1, "init"),
             gone = group(4, 12, 12, "x");
  a.id = 101;
  b.id = 102;
  h.id = 103;
  gone.id = 104;
  add_samples(a, AITRACE_SCHED_RUNQ_WAKEUP, {1000, 5000});
  add_samples(b, AITRACE_SCHED_RUNQ_WAKEUP, {1000, 9000000});
  a.counters.switches = 2;
  b.counters.switches = 5;
  add_samples(h, AITRACE_SCHED_ONCPU, {7});
  add_samples(gone, AITRACE_SCHED_ONCPU, {7});
  SchedGroup other;
  other.other = true;
  other.id = AITRACE_SCHED_GROUP_OTHER;
  add_samples(other, AITRACE_SCHED_ONCPU, {3});  // shown only once used
  s.groups = {a, other, b, h, gone};
  CgroupOwners owners(false, ContainerMetadataRoots{"/nonexistent", {}});
  const std::map<uint64_t, std::string> paths = {{101, scope}, {102, scope + "/sub"}, {103, "/init.scope"}};
  SchedOwnerGroups m = sched_group_by_owner(s, owners, paths);
  ASSERT_EQ(m.snapshot.groups.size(), 4u);  // the container, other, host, removed

  SchedReportOptions o;
  o.group_by = SchedGroupBy::container;
  o.owners = m.owner;
  const nlohmann::json doc = sched_json(m.snapshot, o);
  std::map<std::string, nlohmann::json> by_owner;
  for (const auto& g : doc["groups"]) by_owner[g["other"] ? "other" : g["owner"].get<std::string>()] = g;
  ASSERT_EQ(by_owner.size(), 4u) << doc.dump();
  const nlohmann::json& c = by_owner["container"];
  EXPECT_EQ(c["container"]["id"], id);
  EXPECT_EQ(c["container"]["runtime"], "docker");
  EXPECT_TRUE(c["container"]["name"].is_null());
  EXPECT_EQ(c["container"]["cgroup"], scope);
  EXPECT_TRUE(c["pod"].is_null());
  EXPECT_EQ(c["histograms"]["runq_wakeup"]["count"], 4u);
  EXPECT_EQ(c["histograms"]["runq_wakeup"]["sum"], 1000u + 5000 + 1000 + 9000000);
  EXPECT_EQ(c["histograms"]["runq_wakeup"]["max"], 9000000u);
  EXPECT_EQ(c["counters"]["switches"], 7u);
  EXPECT_TRUE(by_owner["host"]["container"].is_null());
  EXPECT_EQ(by_owner["removed"]["histograms"]["oncpu"]["count"], 1u);
  EXPECT_TRUE(by_owner["other"]["owner"].is_null());
  // The merged buckets: 1000 ns twice, once each for 5000 and 9000000.
  const SchedGroup* merged = nullptr;
  for (const SchedGroup& g : m.snapshot.groups)
    if (m.owner.count(g.id) && m.owner.at(g.id).kind == CgroupOwner::Kind::container) merged = &g;
  ASSERT_NE(merged, nullptr);
  const std::vector<std::pair<uint32_t, uint64_t>> want = {
      {aitrace_hist_bucket(1000), 2}, {aitrace_hist_bucket(5000), 1}, {aitrace_hist_bucket(9000000), 1}};
  EXPECT_EQ(merged->buckets[AITRACE_SCHED_RUNQ_WAKEUP], want);

  const std::string text = sched_text(m.snapshot, o);
  EXPECT_NE(text.find("CONTAINER"), std::string::npos) << text;
  EXPECT_NE(text.find(id.substr(0, 12)), std::string::npos) << text;
  EXPECT_NE(text.find("host"), std::string::npos) << text;
  o.hist = true;
  EXPECT_NE(sched_text(m.snapshot, o).find("container - (docker " + id.substr(0, 12) + ")"), std::string::npos);

  CgroupOwners pods(true, ContainerMetadataRoots{"/nonexistent", {}});
  const std::map<uint64_t, std::string> kube = {
      {101, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_ab.slice/cri-containerd-" + id + ".scope"},
      {102, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_ab.slice"},
      {103, "/system.slice/docker-" + id + ".scope"}};
  SchedOwnerGroups p = sched_group_by_owner(s, pods, kube);
  o.group_by = SchedGroupBy::pod;
  o.owners = p.owner;
  o.hist = false;
  const nlohmann::json pdoc = sched_json(p.snapshot, o);
  bool pod_seen = false;
  for (const auto& g : pdoc["groups"])
    if (g["owner"] == "pod") {
      pod_seen = true;
      EXPECT_EQ(g["pod"]["uid"], "12-ab");
      EXPECT_EQ(g["pod"]["qos"], "burstable");
      EXPECT_EQ(g["counters"]["switches"], 7u) << "the pod's own cgroup and its container's";
    } else if (g["owner"] == "host") {
      EXPECT_EQ(g["histograms"]["oncpu"]["count"], 1u) << "a docker container is in no pod";
    }
  EXPECT_TRUE(pod_seen) << pdoc.dump();
  EXPECT_NE(sched_text(p.snapshot, o).find("12-ab"), std::string::npos);
}

}  // namespace
}  // namespace aitrace
