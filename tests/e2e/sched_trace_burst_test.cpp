// A burst of new threads under `--eevdf --trace` at default settings (issue 12, item 3): no
// record is lost, and the trace (compact sched events read back by Perfetto's importer rules)
// has every thread of the burst with at least the switches the kernel must have made for it.
#include "eevdf_ground_truth.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

constexpr int kThreads = 3000;
constexpr int kSleeps = 20;  // 1 ms each: a switch out and a wakeup each

TEST(SchedTraceBurst, ThreeThousandNewThreadsLoseNoRecord) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const auto dir = fs::temp_directory_path() / ("aitrace_burst_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string trace = (dir / "burst.perfetto-trace").string(), report = (dir / "report.json").string();
  auto r = test::run_command({test::aitrace_binary(), "sched", "--eevdf", "--json", "-o", report, "--trace", trace, "--",
                              test::workload("thread_burst"), std::to_string(kThreads), std::to_string(kSleeps)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(kThreads) + "\n") << "every thread of the burst ran";
  std::ifstream in(report);
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  const auto& t = doc["trace"];
  EXPECT_EQ(t["lost"], 0) << t.dump();
  EXPECT_EQ(t["decoded"], t["records"]);
  // Each thread's wakeup_new, its sleeps' switches and wakeups: well over the threads x sleeps.
  EXPECT_GT(t["records"].get<uint64_t>(), uint64_t{kThreads} * kSleeps);

  perfetto::protos::Trace pt;
  ASSERT_TRUE(test::parse_trace_file(trace, &pt));
  // The workload's pid: the process of the threads named after it. (Not its process entry's
  // command line: that is read when the process is first seen, which can be before its exec.)
  int32_t burst = 0;
  for (const auto& p : pt.packet())
    for (const auto& th : p.process_tree().threads())
      if (th.name() == "thread_burst" && th.tid() != th.tgid()) burst = th.tgid();
  ASSERT_NE(burst, 0) << "the burst's threads are in the trace";
  std::map<uint32_t, uint64_t> outs;  // the burst's threads (the main one excepted) -> switch-outs
  for (const auto& p : pt.packet())
    for (const auto& th : p.process_tree().threads())
      if (th.tgid() == burst && th.tid() != burst) outs[static_cast<uint32_t>(th.tid())] = 0;
  const test::TraceCounts counts = test::count_trace(pt);
  for (auto& [tid, n] : outs) n = counts.switch_outs.count(tid) ? counts.switch_outs.at(tid) : 0;
  EXPECT_EQ(outs.size(), static_cast<size_t>(kThreads));
  size_t short_threads = 0;
  for (const auto& [tid, n] : outs) short_threads += n < kSleeps;  // each sleep blocks: a switch out
  EXPECT_EQ(short_threads, 0u) << "threads with fewer than " << kSleeps << " switch-outs in the trace";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace aitrace
