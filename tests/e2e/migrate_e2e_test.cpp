// `aitrace migrate` against the kernel's own accounting: while a workload fragments memory and
// compacts it, the pages the trace counts equal the pgmigrate_success delta of /proc/vmstat.
#include "aitrace/core/targets.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace aitrace {
namespace {

using nlohmann::json;

struct FragmentRun {
  test::CommandResult cmd;
  json report;
  long long before = -1, after = -1;  // pgmigrate_success read by the workload
};

std::string temp_path(const char* tag) {
  return (std::filesystem::temp_directory_path() /
          (std::string("aitrace-migrate-") + tag + "-" + std::to_string(getpid()) + ".json"))
      .string();
}

FragmentRun run_fragment(std::vector<std::string> extra) {
  FragmentRun r;
  std::string out = temp_path("report");
  std::vector<std::string> argv = {test::aitrace_binary(), "migrate", "--json", "-o", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--", test::workload("migrate_fragment"), "--mb", "64", "--drop-caches-if-stuck"});
  r.cmd = test::run_command(argv, std::chrono::seconds(60));
  std::istringstream lines(r.cmd.out);
  std::string key;
  long long v;
  while (lines >> key >> v) {
    if (key == "pgmigrate_success_before") r.before = v;
    if (key == "pgmigrate_success_after") r.after = v;
  }
  std::string text = test::read_file(out);
  std::filesystem::remove(out);
  if (!text.empty()) r.report = json::parse(text, nullptr, false);
  return r;
}

const json* workload_group(const json& report) {
  for (const auto& g : report["groups"])
    if (g.value("comm", "") == "migrate_fragmen") return &g;
  return nullptr;
}

class MigrateGroundTruth : public ::testing::TestWithParam<const char*> {};

// Checks what must hold on every run, whatever the host's memory did meanwhile.
void check_invariants(const FragmentRun& r, const char* flavor) {
  ASSERT_EQ(r.cmd.exit_code, 0) << r.cmd.err;
  ASSERT_FALSE(r.report.is_discarded()) << r.cmd.err;
  ASSERT_EQ(r.report["schema"], "aitrace.migrate/2");
  if (flavor) {
    EXPECT_EQ(r.report["hooks"]["migrate:mm_migrate_pages"], std::string("attached (") + flavor + ")");
  }
  ASSERT_GE(r.before, 0);
  const json& t = r.report["totals"];
  // Every call is in the latency histogram unless it began before tracing did.
  EXPECT_EQ(r.report["latency"]["count"].get<uint64_t>() + r.report["lost"]["calls_without_start"].get<uint64_t>(),
            t["calls"].get<uint64_t>());
  for (const char* k : {"stats_map_full", "inflight_map_full", "latency_map_full"})
    EXPECT_EQ(r.report["lost"][k], 0u) << k;
  if (const json* w = workload_group(r.report)) {
    // Compaction is all the workload did, and the kernel's BTF names it.
    EXPECT_EQ((*w)["reasons"].size(), 1u) << w->dump();
    EXPECT_TRUE((*w)["reasons"].contains("compaction")) << w->dump();
    EXPECT_EQ(r.report["by_reason"]["compaction"]["reason"], 0);
  }
}

// Whole system (-a) for as long as the workload runs: every migration the kernel counts in
// pgmigrate_success between the workload's two reads is inside the traced window. The window
// is slightly wider (exec and exit of the workload), so a background migration (kcompactd)
// right there would make the trace larger. And whether compaction finds anything to move
// depends on the host's memory at that moment (other jobs' page cache can leave it no free
// target pages). So: the bounds hold on every attempt, and within five attempts one must
// move pages and match vmstat exactly.
TEST_P(MigrateGroundTruth, PagesEqualVmstatDelta) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  bool exact = false;
  std::string log;
  for (int attempt = 0; attempt < 5 && !exact; attempt++) {
    FragmentRun r = run_fragment({"-a", "--hook", GetParam()});
    ASSERT_NO_FATAL_FAILURE(check_invariants(r, GetParam()));
    const long long delta = r.after - r.before;
    const long long traced = r.report["totals"]["pages_succeeded"].get<long long>();
    const json* w = workload_group(r.report);
    const long long own = w ? (*w)["pages_succeeded"].get<long long>() : 0;
    // The workload's own compaction happened between its reads; the trace window contains them.
    EXPECT_LE(own, delta);
    EXPECT_GE(traced, delta);
    log += "attempt " + std::to_string(attempt) + ": traced " + std::to_string(traced) + " (workload " +
           std::to_string(own) + "), vmstat delta " + std::to_string(delta) + "\n";
    exact = delta > 0 && traced == delta && own > 0;
    if (!exact) usleep(200 * 1000);
  }
  EXPECT_TRUE(exact) << "no attempt moved pages and matched vmstat exactly:\n" << log;
}

INSTANTIATE_TEST_SUITE_P(Flavors, MigrateGroundTruth, ::testing::Values("tp_btf", "raw_tp", "tracepoint"));

TEST(MigrateE2e, CommandOnlyCountsItsOwnMigrations) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  bool moved = false;
  for (int attempt = 0; attempt < 5 && !moved; attempt++) {
    FragmentRun r = run_fragment({"--by", "process"});
    ASSERT_NO_FATAL_FAILURE(check_invariants(r, nullptr));
    const json& t = r.report["totals"];
    // Only CMD's tasks, and all of its calls happened between its two vmstat reads.
    EXPECT_LE(r.report["groups"].size(), 1u) << r.report["groups"].dump();
    EXPECT_LE(t["pages_succeeded"].get<long long>(), r.after - r.before);
    // CMD is held until every hook is attached: none of its calls can lack a start.
    EXPECT_EQ(r.report["lost"]["calls_without_start"], 0u);
    EXPECT_EQ(r.report["latency"]["count"], t["calls"]);
    if (t["pages_succeeded"].get<long long>() == 0) {
      usleep(200 * 1000);
      continue;
    }
    moved = true;
    ASSERT_EQ(r.report["groups"].size(), 1u);
    EXPECT_EQ(r.report["groups"][0]["comm"], "migrate_fragmen");
  }
  EXPECT_TRUE(moved) << "compaction moved none of the workload's pages in five attempts";
}

// The comm filter runs in the kernel on the task that migrates: CMD's shell never migrates,
// its child does.
TEST(MigrateE2e, CommFilterSelectsTheMigratingTask) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string cmd = test::workload("migrate_fragment") + " --mb 16 --drop-caches-if-stuck";
  for (const char* comm : {"migrate_fragmen", "sh"}) {
    std::string out = temp_path("comm");
    auto r = test::run_command(
        {test::aitrace_binary(), "migrate", "--json", "-o", out, "--comm", comm, "--", "sh", "-c", cmd});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(test::read_file(out), nullptr, false);
    std::filesystem::remove(out);
    ASSERT_FALSE(j.is_discarded());
    if (std::string(comm) == "sh") {
      EXPECT_EQ(j["totals"]["calls"], 0u) << j["groups"].dump();
    } else {
      EXPECT_GT(j["totals"]["calls"].get<uint64_t>(), 0u) << r.out;
      ASSERT_EQ(j["groups"].size(), 1u);
      EXPECT_EQ(j["groups"][0]["comm"], "migrate_fragmen");
    }
  }
}

// --cgroup filters in the kernel on the migrating task's cgroup v2, and --by cgroup names it.
TEST(MigrateE2e, CgroupFilterAndGrouping) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string mnt = cgroup2_mount();
  if (mnt.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("no cgroup v2 mount");
  const std::string name = "/aitrace-migrate-e2e-" + std::to_string(getpid());
  const std::string other = name + "-empty";
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) std::filesystem::remove(d, ec);
    }
  } cleanup{{mnt + name, mnt + other}};
  ASSERT_TRUE(std::filesystem::create_directory(mnt + name));
  ASSERT_TRUE(std::filesystem::create_directory(mnt + other));
  // The shell joins the cgroup, then becomes the workload (same process).
  const std::string cmd = "echo $$ > " + mnt + name + "/cgroup.procs && exec " + test::workload("migrate_fragment") +
                          " --mb 16 --drop-caches-if-stuck";
  for (const std::string& target : {name, other}) {
    std::string out = temp_path("cgroup");
    auto r = test::run_command({test::aitrace_binary(), "migrate", "--json", "-o", out, "--by", "cgroup", "--cgroup",
                                target, "--", "sh", "-c", cmd});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(test::read_file(out), nullptr, false);
    std::filesystem::remove(out);
    ASSERT_FALSE(j.is_discarded()) << r.err;
    if (target == other) {
      EXPECT_EQ(j["totals"]["calls"], 0u) << j["groups"].dump();
    } else {
      EXPECT_GT(j["totals"]["calls"].get<uint64_t>(), 0u);
      ASSERT_EQ(j["groups"].size(), 1u) << j["groups"].dump();
      EXPECT_EQ(j["groups"][0]["cgroup"], name);
    }
  }
}

TEST(MigrateE2e, TextReportAndSingleNodeNote) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "migrate", "--by", "reason", "--",
                              test::workload("migrate_fragment"), "--mb", "16", "--drop-caches-if-stuck"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("aitrace: tracing page migrations"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("by reason"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compaction"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lost: "), std::string::npos) << r.out;
  int nodes = 0;
  for (const auto& e : std::filesystem::directory_iterator("/sys/devices/system/node"))
    nodes += e.path().filename().string().rfind("node", 0) == 0 && isdigit(e.path().filename().string()[4]);
  if (nodes == 1) {
    EXPECT_NE(r.out.find("single NUMA node"), std::string::npos) << r.out;
  }
}

TEST(MigrateE2e, IntervalsAreJsonLines) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "migrate", "--json", "-i", "100ms", "-d", "350ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  int intervals = 0, finals = 0;
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["schema"], "aitrace.migrate/2");
    (j["interval"].get<bool>() ? intervals : finals)++;
  }
  // Ticks at 100, 200 and 300 ms, then the last 50 ms as an interval of its own before the total.
  EXPECT_EQ(intervals, 4);
  EXPECT_EQ(finals, 1);
}

TEST(MigrateE2e, ReportsAndReturnsTheCommandsExitStatus) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "migrate", "--json", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["totals"]["calls"], 0u);
  EXPECT_EQ(j["hooks"]["sched:sched_process_fork"].get<std::string>().rfind("attached", 0), 0u);
}

TEST(MigrateE2e, BadInputIsOneClearLine) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  for (const auto& c : std::vector<Case>{{{"--by", "thread"}, "invalid --by 'thread'"},
                                         {{"-a"}, "-a/--all-tasks needs -- CMD"},
                                         {{"-a", "-p", "1", "--", "true"}, "cannot be combined"},
                                         {{"-d", "0"}, "invalid duration"}}) {
    std::vector<std::string> argv = {test::aitrace_binary(), "migrate"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = test::run_command(argv, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 2) << c.says << ": " << r.err;
    EXPECT_EQ(r.err.rfind("aitrace: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace aitrace
