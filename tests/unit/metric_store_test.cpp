// The exporter's metric store and the sched collector's deltas into it, on hand-built snapshots:
// exact le buckets, escaping, the cardinality cap, and counters that never go backwards when
// slots are reused or groups fold.
#include "aitrace/output/metric_store.hpp"
#include "aitrace/sched/sched_metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <regex>
#include <sstream>

namespace aitrace {
namespace {

std::string render(const MetricStore& s, MetricFormat f = MetricFormat::prometheus) {
  std::string out;
  s.render(f, out);
  return out;
}

// Every sample line as "name{labels}" -> value.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> buckets_of(std::initializer_list<uint64_t> values_ns) {
  std::map<uint32_t, uint64_t> m;
  for (uint64_t v : values_ns) m[aitrace_hist_bucket(v)]++;
  return {m.begin(), m.end()};
}

TEST(MetricStore, DefaultBoundsArePowersOfTwoAndCountExactly) {
  MetricStore s({});
  int h = s.histogram("aitrace_test_seconds", "test");
  auto g = s.admit({{"comm", "a"}});
  // 1023 ns is below the 1.024 us bound, 1024 is not; 3000 ns is below 4.096 us.
  s.add_histogram(h, g, {}, buckets_of({1023, 1024, 3000, uint64_t{1} << 40}), 1023 + 1024 + 3000 + (uint64_t{1} << 40));
  auto m = samples(render(s));
  EXPECT_EQ(m["aitrace_test_seconds_bucket{comm=\"a\",le=\"1.024e-06\"}"], "1");
  EXPECT_EQ(m["aitrace_test_seconds_bucket{comm=\"a\",le=\"2.048e-06\"}"], "2");
  EXPECT_EQ(m["aitrace_test_seconds_bucket{comm=\"a\",le=\"4.096e-06\"}"], "3");
  EXPECT_EQ(m["aitrace_test_seconds_bucket{comm=\"a\",le=\"17.179869184\"}"], "3");
  EXPECT_EQ(m["aitrace_test_seconds_bucket{comm=\"a\",le=\"+Inf\"}"], "4");
  EXPECT_EQ(m["aitrace_test_seconds_count{comm=\"a\"}"], "4");
  EXPECT_EQ(m["aitrace_test_seconds_sum{comm=\"a\"}"], "1099.511632823");
}

TEST(MetricStore, ConfiguredBoundsRoundUpToABucketEdge) {
  auto b = HistogramBounds::parse("0.000001,0.001,1");
  ASSERT_TRUE(b) << b.error().message;
  // 1000 ns lies inside the [992, 1024) bucket: the bound becomes 1024 ns.
  EXPECT_EQ(b->edges_ns(), (std::vector<uint64_t>{1024, 1015808, 1006632960}));
  for (const char* bad : {"", "0", "-1", "1,0.5", "x", "1,,2", "0.001,0.001", "5000"})
    EXPECT_FALSE(HistogramBounds::parse(bad)) << bad;
}

TEST(MetricStore, LabelValuesFromHostileCommNamesAreEscaped) {
  // The exposition format's escapes over the JSON form of the comm (a backslash doubled there).
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\\\\\c\\nd");
  EXPECT_EQ(escape_label_value("tab\there"), "tab\\\\x09here");
  EXPECT_EQ(escape_label_value(std::string("bad\xff", 4)), "bad\\\\xff");
  EXPECT_EQ(escape_label_value("lit\\xff"), "lit\\\\\\\\xff") << "the text \\xff is not the byte";
  EXPECT_EQ(escape_label_value("ünï"), "ünï");
}

TEST(MetricStore, CountersUseTotalAndOpenMetricsEndsWithEof) {
  MetricStore s({});
  int c = s.counter("aitrace_test_events", "events");
  s.add(c, {{"reason", "x"}}, 3);
  s.add(c, {{"reason", "x"}}, 2);
  const std::string prom = render(s), om = render(s, MetricFormat::openmetrics);
  EXPECT_NE(prom.find("# TYPE aitrace_test_events_total counter\naitrace_test_events_total{reason=\"x\"} 5\n"),
            std::string::npos)
      << prom;
  EXPECT_NE(om.find("# TYPE aitrace_test_events counter\naitrace_test_events_total{reason=\"x\"} 5\n"),
            std::string::npos)
      << om;
  EXPECT_TRUE(om.ends_with("# EOF\n"));
  EXPECT_EQ(prom.find("# EOF"), std::string::npos);
  EXPECT_EQ(negotiate_metric_format("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            MetricFormat::openmetrics);
  EXPECT_EQ(negotiate_metric_format("text/plain"), MetricFormat::prometheus);
  EXPECT_EQ(negotiate_metric_format(""), MetricFormat::prometheus);
}

TEST(MetricStore, GroupsPastTheCapFoldIntoOtherAndAreCounted) {
  MetricStore s({.max_groups = 2});
  int c = s.counter("aitrace_test_events", "events");
  for (int i = 0; i < 5; i++) s.add(c, s.admit({{"pid", std::to_string(i)}}), {}, 1);
  EXPECT_EQ(s.admitted_groups(), 2u);
  EXPECT_EQ(s.folded_groups(), 3u);
  auto m = samples(render(s));
  EXPECT_EQ(m["aitrace_test_events_total{pid=\"0\"}"], "1");
  EXPECT_EQ(m["aitrace_test_events_total{pid=\"other\"}"], "3");
  EXPECT_EQ(m["aitrace_serve_folded_groups_total"], "3");
  EXPECT_EQ(m["aitrace_serve_groups"], "2");
  EXPECT_EQ(m.count("aitrace_test_events_total{pid=\"4\"}"), 0u);
}

SchedGroup group(uint32_t slot, uint64_t id, const std::string& comm, uint64_t switches, uint64_t wakeup_ns) {
  SchedGroup g;
  g.slot = slot;
  g.id = id;
  g.pid = static_cast<uint32_t>(id);
  g.tid = static_cast<uint32_t>(id);
  g.comm = comm;
  g.counters.switches = switches;
  g.count[AITRACE_SCHED_RUNQ_WAKEUP] = switches;
  g.sum[AITRACE_SCHED_RUNQ_WAKEUP] = switches * wakeup_ns;
  if (switches) g.buckets[AITRACE_SCHED_RUNQ_WAKEUP] = {{aitrace_hist_bucket(wakeup_ns), switches}};
  return g;
}

TEST(SchedMetrics, CountersStayMonotonicWhenASlotIsReusedByAnotherGroup) {
  MetricStore s({});
  SchedMetrics sm(SchedGroupBy::comm);
  SchedSnapshot a;
  a.groups = {group(1, 100, "worker", 10, 5000)};
  sm.add(a, s);
  // The task exited and its slot now holds another group with the same comm and fewer counts:
  // a raw-value exporter would go from 10 back to 3.
  SchedSnapshot b;
  b.groups = {group(1, 200, "worker", 3, 5000)};
  sm.add(b, s);
  auto m = samples(render(s));
  EXPECT_EQ(m["aitrace_sched_switches_total{comm=\"worker\"}"], "13");
  EXPECT_EQ(m["aitrace_sched_runqueue_wait_seconds_count{comm=\"worker\",kind=\"wakeup\"}"], "13");
  // The same group read again adds only its increase.
  SchedSnapshot c;
  c.groups = {group(1, 200, "worker", 5, 5000)};
  sm.add(c, s);
  m = samples(render(s));
  EXPECT_EQ(m["aitrace_sched_switches_total{comm=\"worker\"}"], "15");
}

TEST(SchedMetrics, KernelOtherSlotAndExporterFoldShareOneOtherSeries) {
  MetricStore s({.max_groups = 1});
  SchedMetrics sm(SchedGroupBy::process);
  SchedSnapshot a;
  SchedGroup other = group(0, AITRACE_SCHED_GROUP_OTHER, "", 4, 100);
  other.other = true;
  a.groups = {other, group(1, 10, "a", 1, 100), group(2, 11, "b", 2, 100)};
  a.lost.hist_overflow = 7;
  sm.add(a, s);
  auto m = samples(render(s));
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"10\",comm=\"a\"}"], "1");
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"other\",comm=\"other\"}"], "6");
  EXPECT_EQ(m["aitrace_serve_folded_groups_total"], "1");  // b only: the kernel's other is no fold
  EXPECT_EQ(m["aitrace_sched_lost_events_total{reason=\"hist_map_full\"}"], "7");
  EXPECT_EQ(m["aitrace_sched_lost_events_total{reason=\"transition_missed\"}"], "0");
}

// --by container: the kernel groups by cgroup; two cgroups of one container add to one series
// whose labels name it, tasks in no container to container="host".
TEST(SchedMetrics, ContainerLabelsJoinTheCgroupsOfOneContainer) {
  MetricStore s({});
  const std::string id(64, 'd');
  const std::string scope = "/system.slice/docker-" + id + ".scope";
  SchedMetrics sm(SchedGroupBy::container, [&](const std::set<uint64_t>&) {
    return std::map<uint64_t, std::string>{{100, scope}, {101, scope + "/sub"}, {102, "/user.slice"}};
  });
  SchedSnapshot a;
  a.groups = {group(1, 100, "a", 2, 5000), group(2, 101, "b", 3, 5000), group(3, 102, "c", 4, 5000)};
  sm.add(a, s);
  auto m = samples(render(s));
  const std::string c = "container=\"" + id.substr(0, 12) + "\",container_id=\"" + id + "\",pod_uid=\"\"";
  EXPECT_EQ(m["aitrace_sched_switches_total{" + c + "}"], "5");
  EXPECT_EQ(m["aitrace_sched_switches_total{container=\"host\",container_id=\"\",pod_uid=\"\"}"], "4");
  EXPECT_EQ(m["aitrace_serve_groups"], "2");
}

// An exited process's group retires once it has been exited for retire_after refreshes: its
// series end, its place under the cap goes to a new process, and a reused label set (same pid
// and comm) is folded into other instead of restarting from zero.
TEST(SchedMetrics, ExitedProcessGroupsRetireAndFreeTheirPlace) {
  MetricStore s({.max_groups = 2});
  SchedMetrics sm(SchedGroupBy::process, {}, /*retire_after=*/2);
  SchedSnapshot a;
  a.groups = {group(1, 10, "a", 3, 100), group(2, 11, "b", 4, 100)};
  a.groups[0].exited = true;
  sm.add(a, s);  // refresh 0: a is exited, its final value still exported
  auto m = samples(render(s));
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"10\",comm=\"a\"}"], "3");
  SchedSnapshot b = a;
  b.groups.push_back(group(3, 12, "c", 5, 100));  // no place yet: folded
  sm.add(b, s);  // refresh 1: a retires after this one's deltas
  m = samples(render(s));
  EXPECT_EQ(m.count("aitrace_sched_switches_total{pid=\"10\",comm=\"a\"}"), 0u) << "a's series ended";
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"other\",comm=\"other\"}"], "5");
  EXPECT_EQ(m["aitrace_serve_retired_groups_total"], "1");
  EXPECT_EQ(m["aitrace_serve_groups"], "1");
  SchedSnapshot c = b;
  c.groups.push_back(group(4, 13, "d", 6, 100));  // a's place is free again
  c.groups[0].counters.switches = 4;             // a late event of the dead group: to other
  c.groups[0].count[AITRACE_SCHED_RUNQ_WAKEUP] = 3;
  sm.add(c, s);
  m = samples(render(s));
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"13\",comm=\"d\"}"], "6");
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"other\",comm=\"other\"}"], "6");
  EXPECT_EQ(m["aitrace_serve_groups"], "2");
  // The same label set again (a reused pid, same comm, a new kernel group): never from zero.
  SchedSnapshot d = c;
  d.groups.push_back(group(5, 10, "a", 1, 100));
  d.groups.back().id = 10 + (7ull << 32);
  sm.add(d, s);
  m = samples(render(s));
  EXPECT_EQ(m.count("aitrace_sched_switches_total{pid=\"10\",comm=\"a\"}"), 0u);
  EXPECT_EQ(m["aitrace_sched_switches_total{pid=\"other\",comm=\"other\"}"], "7");
}

}  // namespace
}  // namespace aitrace
