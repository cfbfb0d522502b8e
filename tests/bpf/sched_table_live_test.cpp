// The compact table against the JSON document of the same snapshot, read from the real kernel
// on a whole host: every cell is the document's number (counts exact, times rounded to three
// digits), in the document's order.
#include "aitrace/output/text_table.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "aitrace/sched/sched_report.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace aitrace {
namespace {

TEST(SchedTableLive, EveryCellIsTheJsonNumberOfTheSameSnapshot) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  SchedConfig cfg;  // whole system, by process
  auto collector = SchedCollector::open(cfg, test::features());
  ASSERT_TRUE(collector.ok()) << collector.error().message;
  ASSERT_TRUE(collector->load().ok());
  ASSERT_TRUE(collector->attach().ok());
  collector->start();  // the collector counts from start() on, as in the driver's run
  // Preemptions, wakeups and sleeps of known threads beside whatever the host does.
  auto w = test::run_command({test::workload("sched_truth"), "pingpong_hog", "300"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  collector->detach();
  auto snap = collector->read();
  ASSERT_TRUE(snap.ok()) << snap.error().message;

  SchedReportOptions o;
  o.top = 25;
  const nlohmann::json doc = sched_json(*snap, o);
  const std::string text = sched_text(*snap, o);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  auto words = [](const std::string& line) {
    std::vector<std::string> w;
    std::istringstream row(line);
    for (std::string x; row >> x;) w.push_back(x);
    return w;
  };
  size_t header = 0;
  while (header < lines.size() && (words(lines[header]).empty() || words(lines[header])[0] != "PID")) header++;
  ASSERT_LT(header, lines.size()) << text;
  const bool numa = lines[header].find("numa-moves") != std::string::npos;
  const size_t numbers = 23 + (numa ? 2 : 0);  // 5 metrics x 4, switches, involuntary, migrations
  const size_t rows = std::min<size_t>(o.top, doc["groups"].size());
  ASSERT_GE(rows, 3u) << text;
  for (size_t i = 0; i < rows; i++) {
    SCOPED_TRACE(lines[header + 1 + i]);
    const std::vector<std::string> w = words(lines[header + 1 + i]);
    const auto& g = doc["groups"][i];
    ASSERT_GT(w.size(), numbers);
    if (g["other"] == false) {
      EXPECT_EQ(w[0], std::to_string(g["pid"].get<uint32_t>()));
    }
    const size_t base = w.size() - numbers;
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      const auto& h = g["histograms"][kSchedMetricNames[m]];
      const std::string* cell = &w[base + 4 * static_cast<size_t>(m)];
      if (h["count"] == 0) {
        EXPECT_EQ(cell[0] + cell[1] + cell[2] + cell[3], "----");
        continue;
      }
      EXPECT_EQ(cell[0], std::to_string(h["count"].get<uint64_t>()));
      EXPECT_EQ(cell[1], format_ns_short(h["p50"].get<uint64_t>()));
      EXPECT_EQ(cell[2], format_ns_short(h["p99"].get<uint64_t>()));
      EXPECT_EQ(cell[3], format_ns_short(h["max"].get<uint64_t>()));
    }
    const auto& c = g["counters"];
    EXPECT_EQ(w[base + 20], std::to_string(c["switches"].get<uint64_t>()));
    EXPECT_EQ(w[base + 21], std::to_string(c["involuntary"].get<uint64_t>()));
    EXPECT_EQ(w[base + 22], std::to_string(c["migrations"].get<uint64_t>()));
  }
}

}  // namespace
}  // namespace aitrace
