// `aitrace sched` as a user runs it: targets and filters, bad input, overflow, output formats,
// exits of traced processes, and nothing left attached after SIGINT.
#include "aitrace/core/parse_number.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/histogram.h"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace aitrace {
namespace {

using test::Background;

test::CommandResult aitrace_sched(std::vector<std::string> args) {
  args.insert(args.begin(), {test::aitrace_binary(), "sched"});
  return test::run_command(args, std::chrono::seconds(30));
}

nlohmann::json json_of(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out.substr(0, 400);
    return {};
  }
}

void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("aitrace: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// The aitrace.sched/2 documents on stdout, in order (a workload may print JSON lines of its own).
std::vector<nlohmann::json> sched_docs(const std::string& out) {
  std::vector<nlohmann::json> docs;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto d = nlohmann::json::parse(line, nullptr, false);
    if (!d.is_discarded() && d.is_object() && d.value("schema", "") == "aitrace.sched/2") docs.push_back(std::move(d));
  }
  return docs;
}

nlohmann::json last_sched_doc(const std::string& out) {
  auto docs = sched_docs(out);
  return docs.empty() ? nlohmann::json() : docs.back();
}

TEST(SchedCli, PidFilterNeverReportsAnotherProcess) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Background target({test::workload("sched_truth"), "sleeper", "30000"});
  Background bystander({test::workload("sched_truth"), "sleeper", "30000"});
  ASSERT_GT(target.pid(), 0);
  auto doc = json_of(aitrace_sched({"-p", std::to_string(target.pid()), "--by", "thread", "-d", "700ms", "--json"}));
  ASSERT_TRUE(doc.contains("groups"));
  ASSERT_FALSE(doc["groups"].empty());
  uint64_t sleeps = 0;
  for (const auto& g : doc["groups"]) {
    EXPECT_EQ(g["pid"].get<int>(), target.pid()) << g.dump();
    sleeps += g["histograms"]["offcpu_sleep"]["count"].get<uint64_t>();
  }
  EXPECT_GT(sleeps, 10u) << "the sleeper naps every 2 ms";
  // Every hook is reported with how it attached; with -p the filter also forgets reaped processes.
  for (const char* ev : {"sched:sched_switch", "sched:sched_wakeup", "sched:sched_process_free"})
    EXPECT_EQ(doc["hooks"].value(ev, "").rfind("attached (", 0), 0u) << ev << ": " << doc["hooks"].dump();
  EXPECT_FALSE(doc["hooks"].contains("sched:sched_process_fork")) << "forks are followed only for -- CMD";
  EXPECT_FALSE(doc.contains("hooks_missing"));
}

// NUMA balancing moves tasks only between nodes: where the kernel says one node is possible,
// its two hooks are not loaded, and the report neither lists them nor calls them missing. The
// node list is read here from sysfs, not through aitrace's own reader.
TEST(SchedCli, NumaHooksLoadOnlyWhereSeveralNodesArePossible) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::ifstream in("/sys/devices/system/node/possible");
  std::string possible;
  if (!std::getline(in, possible)) {
    // Only a kernel without NUMA has no node list, and it has one node.
    ASSERT_FALSE(std::filesystem::exists("/sys/devices/system/node")) << "node list unreadable";
    possible = "0 (no NUMA)";
  }
  const bool one_node = possible.find_first_of(",-") == std::string::npos;
  auto doc = json_of(aitrace_sched({"-d", "200ms", "--json"}));
  ASSERT_TRUE(doc.contains("hooks")) << doc.dump().substr(0, 400);
  EXPECT_EQ(doc["hooks"].value("sched:sched_switch", "").rfind("attached (", 0), 0u) << doc["hooks"].dump();
  for (const char* ev : {"sched:sched_move_numa", "sched:sched_swap_numa"}) {
    if (one_node)
      EXPECT_FALSE(doc["hooks"].contains(ev)) << ev << " with possible nodes " << possible;
    else
      EXPECT_EQ(doc["hooks"].value(ev, "").rfind("attached (", 0), 0u) << ev << ": " << doc["hooks"].dump();
  }
  EXPECT_FALSE(doc.contains("hooks_missing")) << doc["hooks_missing"].dump();
  // The counters stay in every group either way.
  ASSERT_FALSE(doc["groups"].empty());
  EXPECT_TRUE(doc["groups"][0]["counters"].contains("numa_moves")) << doc["groups"][0].dump();
}

TEST(SchedCli, TidFilterKeepsOnlyThatThread) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  Background target({test::workload("sched_truth"), "sleeper", "30000"});
  // The sleeping worker is the process's second thread; find its tid in /proc.
  std::string tid;
  const std::string dir = "/proc/" + std::to_string(target.pid()) + "/task";
  for (int i = 0; i < 200 && tid.empty(); i++) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().filename() != std::to_string(target.pid())) tid = e.path().filename();
    if (tid.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(tid.empty());
  auto doc = json_of(aitrace_sched({"-t", tid, "--by", "thread", "-d", "500ms", "--json"}));
  ASSERT_EQ(doc["groups"].size(), 1u) << doc.dump().substr(0, 500);
  EXPECT_EQ(std::to_string(doc["groups"][0]["tid"].get<int>()), tid);
}

TEST(SchedCli, CommFilterKeepsOnlyThatName) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // Killed at scope end: it must outlive the tracer's start-up (2 s in a TCG guest).
  Background target({test::workload("sched_truth"), "sleeper", "30000"});
  auto doc = json_of(aitrace_sched({"--comm", "sched_truth", "--by", "thread", "-d", "500ms", "--json"}));
  ASSERT_FALSE(doc["groups"].empty());
  bool saw_target = false;
  for (const auto& g : doc["groups"]) {
    EXPECT_EQ(g["comm"], "sched_truth") << g.dump().substr(0, 200);
    saw_target |= g["pid"].get<int>() == target.pid();
  }
  EXPECT_TRUE(saw_target);
}

TEST(SchedCli, CgroupFilterKeepsOnlyThatCgroup) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // Wherever cgroup2 is mounted: /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on
  // cgroup2-only ones (the VM guests, most current distributions).
  const std::string root = cgroup2_mount();
  struct stat st {};
  if (root.empty() || stat((root + "/cgroup.procs").c_str(), &st) != 0)
    AITRACE_REQUIRE_ENV_OR_SKIP("no cgroup v2 mount");
  const std::string name = "/aitrace_sched_test_" + std::to_string(getpid());
  const std::string dir = root + name;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
  {
    // Killed at scope end: long enough for two tracer start-ups even in a TCG guest (2 s each).
    Background inside({test::workload("sched_truth"), "sleeper", "30000"});
    Background outside({test::workload("sched_truth"), "sleeper", "30000"});
    {
      std::ofstream procs(dir + "/cgroup.procs");
      procs << inside.pid() << "\n";
    }
    auto r = aitrace_sched({"--cgroup", name, "--by", "cgroup", "-d", "700ms", "--json"});
    auto doc = json_of(r);
    ASSERT_EQ(doc["groups"].size(), 1u) << r.out.substr(0, 600);
    EXPECT_EQ(doc["groups"][0]["cgroup"], name);
    EXPECT_GT(doc["groups"][0]["histograms"]["offcpu_sleep"]["count"].get<uint64_t>(), 10u);

    auto by_process = json_of(aitrace_sched({"--cgroup", dir, "-d", "500ms", "--json"}));
    ASSERT_EQ(by_process["groups"].size(), 1u);
    EXPECT_EQ(by_process["groups"][0]["pid"].get<int>(), inside.pid());
  }
  rmdir(dir.c_str());
}

TEST(SchedCli, BadInputIsOneLineAndNonZero) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_one_line_error(aitrace_sched({"-p", "999999999", "-d", "1"}), "no such process");
  expect_one_line_error(aitrace_sched({"-p", "12x", "-d", "1"}), "invalid pid");
  expect_one_line_error(aitrace_sched({"--cgroup", "/no/such/cgroup/aitrace", "-d", "1"}), "no such cgroup");
  expect_one_line_error(aitrace_sched({"-d", "soon"}), "invalid duration");
  expect_one_line_error(aitrace_sched({"-d", "1", "--by", "planet"}), "invalid --by");
  expect_one_line_error(aitrace_sched({"--", "/no/such/command-aitrace"}), "command not found");
  expect_one_line_error(aitrace_sched({"-d", "1", "--max-groups", "4294967295"}), "--max-groups must be 1 to 1048576");

  // An exited process (a zombie, not yet reaped) is refused as well.
  pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  for (int i = 0; i < 200; i++) {
    std::string status = test::read_file("/proc/" + std::to_string(zombie) + "/status");
    if (status.find("(zombie)") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  expect_one_line_error(aitrace_sched({"-p", std::to_string(zombie), "-d", "1"}), "has exited");
  waitpid(zombie, nullptr, 0);
}

// Issue 13's habits: an empty value is an error (never "no filter", never stdout), and so is a
// --top that is not positive, a trailing comma, a --comm nothing has, and CMD options without --.
TEST(SchedCli, EmptyValuesAndPeerHabitsAreRefused) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  for (const char* opt : {"-p", "-t", "--comm", "--cgroup", "-d", "-i", "-o", "--trace"}) {
    SCOPED_TRACE(opt);
    // -d 1: were the empty value taken as "not given", the run would trace for 1 s and exit 0.
    expect_one_line_error(aitrace_sched({opt, "", "-d", "1"}), "the value is empty");
  }
  expect_one_line_error(aitrace_sched({"-p", std::to_string(getpid()) + ",", "-d", "1"}), "ends with a comma");
  expect_one_line_error(aitrace_sched({"--top", "-1", "-d", "1"}), "--top");
  expect_one_line_error(aitrace_sched({"--top", "0", "-d", "1"}), "--top");
  expect_one_line_error(aitrace_sched({"--comm", "aitrace-nosuch", "-d", "1"}), "matches no running thread");
  expect_one_line_error(aitrace_sched({"-d", "1", "sh", "-c", "true"}), "put -- before it");
}

TEST(SchedCli, ProcessExitingMidRunIsReported) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // The target's 300 ms of naps start only once aitrace says it is tracing. Started together
  // with aitrace, the target could exit before a slow start-up (ASAN, a loaded host) attached,
  // and the run then saw no group at all.
  const std::string base = "/tmp/aitrace_exiting_" + std::to_string(getpid());
  const std::string go = base + ".go", out = base + ".json", err = base + ".err";
  Background target({"/bin/sh", "-c",
                     "while [ ! -e '" + go + "' ]; do sleep 0.01; done; exec '" + test::workload("sched_truth") +
                         "' sleeper 300"});
  Background tracer({"/bin/sh", "-c",
                     "exec '" + test::aitrace_binary() + "' sched -p " + std::to_string(target.pid()) +
                         " --by process -d 1200ms --json -o '" + out + "' 2> '" + err + "'"});
  const bool ready = test::wait_for_text(err, "aitrace: tracing");
  std::ofstream(go).put('1');
  const int status = tracer.wait();
  const std::string err_text = test::read_file(err);
  std::filesystem::remove(go);
  std::filesystem::remove(err);
  ASSERT_TRUE(ready) << "no readiness line in 30 s: " << err_text;
  ASSERT_EQ(status, 0) << err_text;
  nlohmann::json doc = nlohmann::json::parse(test::read_file(out));
  std::filesystem::remove(out);
  ASSERT_EQ(doc["groups"].size(), 1u);
  EXPECT_EQ(doc["groups"][0]["pid"].get<int>(), target.pid());
  EXPECT_EQ(doc["groups"][0]["exited"], true);
  EXPECT_GT(doc["groups"][0]["counters"]["switches"].get<uint64_t>(), 10u);
}

TEST(SchedCli, CommandExitCodeAndChildrenAreFollowed) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // sh forks the workload: the child process is traced too, and sh's exit code comes back.
  std::string script = test::workload("sched_truth") + " sleeper 200; exit 7";
  auto r = aitrace_sched({"--by", "process", "--json", "--", "sh", "-c", script});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  // The workload's own JSON line goes to stderr: stdout is the report alone.
  auto doc = last_sched_doc(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out;
  std::string last = doc.dump();
  std::set<std::string> comms;
  for (const auto& g : doc["groups"]) comms.insert(g["comm"].get<std::string>());
  EXPECT_TRUE(comms.count("sched_truth")) << last.substr(0, 600);
  EXPECT_TRUE(comms.count("sh")) << last.substr(0, 600);
  EXPECT_EQ(comms.size(), 2u) << "only the command and its children";
}

// A reused pid is another process: alpha exits, beta gets its pid (ns_last_pid), and --by
// process / --by thread report them as two groups, each under its own name, only alpha exited
// before beta. Keyed by the id alone, beta's events joined alpha's group and renamed it.
TEST(SchedCli, ReusedPidIsANewGroup) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (access("/proc/sys/kernel/ns_last_pid", W_OK) != 0)
    AITRACE_REQUIRE_ENV_OR_SKIP("/proc/sys/kernel/ns_last_pid is not writable (needs root in the initial pid namespace)");
  for (const char* by : {"process", "thread"}) {
    SCOPED_TRACE(by);
    auto r = aitrace_sched({"--by", by, "--json", "--keep-caps", "--", test::workload("pid_reuse")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // With --json on stdout, the command's own stdout (its JSON line) goes to stderr.
    nlohmann::json first;
    std::istringstream err_lines(r.err);
    for (std::string line; std::getline(err_lines, line) && !first.is_object();)
      first = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(first.is_object()) << r.err;
    ASSERT_EQ(first["reused"], true) << "every try lost the pid to another fork";
    const int pid = first["pid"].get<int>();
    auto doc = last_sched_doc(r.out);
    ASSERT_TRUE(doc.is_object()) << r.out;
    std::map<std::string, nlohmann::json> by_name;
    for (const auto& g : doc["groups"])
      if (g["pid"].get<int>() == pid) by_name[g["comm"].get<std::string>()] = g;
    ASSERT_EQ(by_name.size(), 2u) << doc["groups"].dump().substr(0, 1200);
    ASSERT_TRUE(by_name.count("alpha") && by_name.count("beta")) << doc["groups"].dump().substr(0, 1200);
    // Every nap ends in a switch-in: alpha's 3 and beta's 12 stay in their own groups.
    uint64_t alpha = by_name["alpha"]["counters"]["switches"], beta = by_name["beta"]["counters"]["switches"];
    EXPECT_GE(alpha, 3u);
    EXPECT_GE(beta, 12u);
    EXPECT_LT(alpha, beta);
    EXPECT_EQ(by_name["alpha"]["exited"], true);
    EXPECT_EQ(by_name["beta"]["exited"], true);  // it exited too, before the report
  }
}

TEST(SchedCli, GroupOverflowGoesToOtherAndIsCounted) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // Killed at scope end; they must outlive two tracer start-ups (2 s each in a TCG guest).
  Background a({test::workload("sched_truth"), "sleeper", "30000"});
  Background b({test::workload("sched_truth"), "sleeper", "30000"});
  auto doc = json_of(aitrace_sched({"--by", "thread", "--max-groups", "2", "-d", "500ms", "--json"}));
  EXPECT_GT(doc["lost"]["groups_overflow"].get<uint64_t>(), 0u);
  size_t others = 0, named = 0;
  for (const auto& g : doc["groups"]) (g["other"] == true ? others : named)++;
  EXPECT_EQ(others, 1u);
  EXPECT_LE(named, 2u);

  auto text = aitrace_sched({"--by", "thread", "--max-groups", "1", "-d", "300ms"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("lost: "), std::string::npos);
  EXPECT_EQ(text.out.find("lost: 0 tasks to `other`"), std::string::npos) << text.out.substr(0, 300);
  EXPECT_NE(text.out.find("other (groups that did not fit)"), std::string::npos);
}

TEST(SchedCli, HistogramOverflowKeepsCountsExactAndIsCounted) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // No dense groups: every sample goes through the sparse map, which holds 8 buckets in all. raw_tp:
  // with tp_btf a thread keeps its first rows in its own task storage and needs no map row
  // (bpf/sched_threads.bpf.h; SchedThreadsBpf tests its overflow into the group's rows).
  auto r = aitrace_sched({"--by", "thread", "--hook", "raw_tp", "--json", "--dense-groups", "0", "--max-hist-entries", "8", "--",
                          test::workload("sched_truth"), "pingpong_hog", "300"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = last_sched_doc(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out.substr(0, 600);
  EXPECT_GT(doc["lost"]["hist_overflow"].get<uint64_t>(), 0u);
  uint64_t counted = 0, bucketed = 0;
  for (const auto& g : doc["groups"])
    for (const auto& [name, h] : g["histograms"].items()) {
      counted += h["count"].get<uint64_t>();
      for (const auto& b : h["buckets"]) bucketed += b[1].get<uint64_t>();
    }
  EXPECT_EQ(counted - bucketed, doc["lost"]["hist_overflow"].get<uint64_t>()) << "every missing bucket sample is counted";
  // A sample is lost only when `hist` (8 rows) and `hist_spill` (capped to the same budget: 8)
  // are both full, and the rows of both are read: the buckets shown fill 16 rows.
  std::set<std::tuple<size_t, std::string, uint32_t>> rows;  // {group's position, metric, row}
  for (size_t i = 0; i < doc["groups"].size(); i++)
    for (const auto& [name, h] : doc["groups"][i]["histograms"].items())
      for (const auto& b : h["buckets"])
        rows.emplace(i, name, aitrace_hist_bucket(b[0].get<uint64_t>()) / AITRACE_HIST_SUB);
  EXPECT_EQ(rows.size(), 16u);
  auto text = aitrace_sched({"--by", "thread", "--hook", "raw_tp", "--dense-groups", "0", "--max-hist-entries", "8", "--",
                             test::workload("sched_truth"), "pingpong", "200"});
  EXPECT_EQ(text.out.find(" 0 histogram samples (hist map full)"), std::string::npos);
  EXPECT_NE(text.out.find("histogram samples (hist map full)"), std::string::npos);
}

TEST(SchedCli, TextHasBarsPercentilesAndIntervals) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = aitrace_sched(
      {"--by", "thread", "--hist", "-i", "300ms", "--", test::workload("sched_truth"), "pingpong", "800"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t intervals = 0;
  for (size_t p = r.out.find("--- interval "); p != std::string::npos; p = r.out.find("--- interval ", p + 1))
    intervals++;
  EXPECT_GE(intervals, 2u) << r.out.substr(0, 400);
  size_t summary = r.out.find("aitrace sched: ");
  ASSERT_NE(summary, std::string::npos);
  std::string final_report = r.out.substr(summary);
  EXPECT_NE(final_report.find("runq_wakeup (count "), std::string::npos);
  EXPECT_NE(final_report.find("p99.9 "), std::string::npos);
  EXPECT_NE(final_report.find("|*"), std::string::npos);
  EXPECT_NE(final_report.find("\nlost: "), std::string::npos);
  EXPECT_EQ(final_report.find("lost: 0 "), std::string::npos) << "only what was lost is listed";

  auto j = aitrace_sched({"--json", "-i", "200ms", "--", test::workload("sched_truth"), "sleeper", "500"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  size_t docs = 0, interval_docs = 0;
  for (const auto& d : sched_docs(j.out)) {
    docs++;
    interval_docs += d.value("interval", false) ? 1 : 0;
  }
  EXPECT_GE(interval_docs, 1u);
  EXPECT_EQ(docs, interval_docs + 1);
}

TEST(SchedCli, CommsAreEscapedInEveryFormat) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto text = aitrace_sched({"--by", "thread", "--top", "5", "--", test::workload("sched_truth"), "badname", "200"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.find('\x1b'), std::string::npos) << "raw ESC reached the terminal";
  EXPECT_NE(text.out.find("evil\\x1b[31m\\xff"), std::string::npos) << text.out.substr(0, 600);
  auto json = aitrace_sched({"--by", "thread", "--json", "--", test::workload("sched_truth"), "badname", "200"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto doc = last_sched_doc(json.out);
  ASSERT_TRUE(doc.is_object()) << json.out.substr(0, 600);
  bool found = false;
  for (const auto& g : doc["groups"]) found |= g["comm"].get<std::string>().rfind("evil\x1b[31m", 0) == 0;
  EXPECT_TRUE(found) << "the comm survives as valid JSON";
}

// Program ids of aitrace's sched programs currently loaded (bpftool truncates names to 15).
std::set<uint64_t> sched_prog_ids() {
  auto r = test::run_command({"bpftool", "-j", "prog", "show"});
  std::set<uint64_t> ids;
  auto progs = nlohmann::json::parse(r.out, nullptr, false);
  if (!progs.is_array()) return ids;
  for (const auto& p : progs) {
    std::string name = p.value("name", "");
    if (name.rfind("sched_switch_", 0) == 0 || name.rfind("sched_wakeup_", 0) == 0) ids.insert(p["id"].get<uint64_t>());
  }
  return ids;
}

std::set<uint64_t> linked_prog_ids() {
  auto r = test::run_command({"bpftool", "-j", "link", "show"});
  std::set<uint64_t> ids;
  auto links = nlohmann::json::parse(r.out, nullptr, false);
  if (!links.is_array()) return ids;
  for (const auto& l : links) ids.insert(l.value("prog_id", uint64_t{0}));
  return ids;
}

TEST(SchedCli, NothingStaysAttachedAfterSigint) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (test::run_command({"bpftool", "version"}).exit_code != 0) AITRACE_REQUIRE_ENV_OR_SKIP("bpftool not installed");
  auto before = sched_prog_ids();
  std::string out = "/tmp/aitrace_sched_sigint_" + std::to_string(getpid()) + ".json";
  unlink(out.c_str());
  Background tracer({test::aitrace_binary(), "sched", "--json", "-o", out});
  std::set<uint64_t> ours, links;
  // Programs show up at load, links only after attach: wait for both (slow guests widen the gap).
  for (int i = 0; i < 300; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ours.clear();
    for (uint64_t id : sched_prog_ids())
      if (!before.count(id)) ours.insert(id);
    links = linked_prog_ids();
    if (ours.size() >= 3 && std::all_of(ours.begin(), ours.end(), [&](uint64_t id) { return links.count(id) > 0; }))
      break;
  }
  ASSERT_GE(ours.size(), 3u) << "aitrace's programs never showed up";
  for (uint64_t id : ours) EXPECT_TRUE(links.count(id)) << "program " << id << " has no link while tracing";
  kill(tracer.pid(), SIGINT);
  EXPECT_EQ(tracer.wait(), 0);
  auto doc = nlohmann::json::parse(test::read_file(out), nullptr, false);
  unlink(out.c_str());
  EXPECT_EQ(doc.value("schema", ""), "aitrace.sched/2") << "the report is written on SIGINT";
  // The kernel frees programs and links after an RCU grace period: give it a moment.
  std::set<uint64_t> after, after_links;
  for (int i = 0; i < 100; i++) {
    after = sched_prog_ids();
    after_links = linked_prog_ids();
    bool gone = true;
    for (uint64_t id : ours) gone &= !after.count(id) && !after_links.count(id);
    if (gone) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (uint64_t id : ours) {
    EXPECT_FALSE(after.count(id)) << "program " << id << " still loaded";
    EXPECT_FALSE(after_links.count(id)) << "program " << id << " still linked";
  }
}

// Alive and not a zombie: /proc/<pid>/stat's state field.
bool running(pid_t pid) {
  std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

TEST(SchedCli, CommandGetsSigtermWhenAitraceIsKilled) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::string pidfile = "/tmp/aitrace_pdeath_" + std::to_string(getpid()) + ".pid";
  unlink(pidfile.c_str());
  Background tracer({test::aitrace_binary(), "sched", "--", "sh", "-c", "echo $$ > " + pidfile + "; exec sleep 60"});
  pid_t cmd = 0;
  for (int i = 0; i < 1500 && cmd <= 0; i++) {  // CMD starts once aitrace attached (2 s in a TCG guest)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cmd = aitrace::parse_number_line<pid_t>(test::read_file(pidfile)).value_or(0);  // "" until sh wrote it
  }
  unlink(pidfile.c_str());
  ASSERT_GT(cmd, 0) << "the command never started";
  ASSERT_TRUE(running(cmd));
  kill(tracer.pid(), SIGKILL);
  EXPECT_EQ(tracer.wait(), 128 + SIGKILL);
  bool gone = false;
  for (int i = 0; i < 250 && !gone; i++) {
    gone = !running(cmd);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "CMD (pid " << cmd << ") outlived the aitrace that launched it";
  if (!gone) kill(cmd, SIGKILL);
}

}  // namespace
}  // namespace aitrace
