// aitrace in a child pid namespace (`unshare --pid --fork --mount-proc`): -p, `-- CMD` and the
// whole-system view take and show the namespace's ids. The ground truth is the namespace's own
// /proc, read by a shell in the same namespace during the run.
#include "test_support.hpp"

#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

void require_unshare() {
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to create a pid namespace");
  if (!fs::exists("/usr/bin/unshare")) AITRACE_REQUIRE_ENV_OR_SKIP("unshare (util-linux) is not installed");
}

// `sh -c script` as pid 1 of a new pid namespace with its own /proc.
test::CommandResult in_pid_namespace(const std::string& script) {
  return test::run_command({"unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script}, std::chrono::seconds(60));
}

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// -p of a namespace pid traces that process; its threads appear with the tids the namespace's
// /proc lists (before, -p 2 meant the host's kthreadd and traced nothing).
TEST(PidNamespace, PidOfTheNamespaceTracesThatProcessWithItsNamespaceTids) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_unshare();
  auto r = in_pid_namespace(quoted(test::workload("named_threads")) + " steady 4000 nsw1 nsw2 & w=$!; sleep 0.5; " +
                            "echo nspid=$w >&2; echo nstids=$(ls /proc/$w/task) >&2; " +
                            quoted(test::aitrace_binary()) + " sched -p $w -d 1 --by thread --json; rc=$?; kill $w; exit $rc");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<int64_t> pid = test::ids_after(r.err, "nspid"), tids = test::ids_after(r.err, "nstids");
  ASSERT_EQ(pid.size(), 1u) << r.err;
  ASSERT_EQ(tids.size(), 3u) << r.err;  // the main thread and the two sleepers
  json doc = json::parse(r.out);
  std::set<std::string> sleepers;
  for (const auto& g : doc["groups"]) {
    EXPECT_EQ(g["pid"].get<int64_t>(), *pid.begin()) << g.dump();
    EXPECT_TRUE(tids.count(g["tid"].get<int64_t>())) << g.dump() << " not in the namespace's /proc/" << *pid.begin()
                                                     << "/task";
    if (g["comm"] == "nsw1" || g["comm"] == "nsw2") sleepers.insert(g["comm"].get<std::string>());
  }
  EXPECT_EQ(sleepers.size(), 2u) << r.out.substr(0, 600);
}

// -t of a namespace tid (found through the namespace's /proc/PID/task/*/comm) traces that thread only.
TEST(PidNamespace, TidOfTheNamespaceTracesOnlyThatThread) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_unshare();
  auto r = in_pid_namespace(quoted(test::workload("named_threads")) + " steady 4000 nst1 nst2 & w=$!; sleep 0.5; " +
                            "t=$(grep -l nst2 /proc/$w/task/*/comm | cut -d/ -f5); echo nstid=$t >&2; " +
                            quoted(test::aitrace_binary()) + " sched -t $t -d 1 --by thread --json; rc=$?; kill $w; exit $rc");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<int64_t> tid = test::ids_after(r.err, "nstid");
  ASSERT_EQ(tid.size(), 1u) << r.err;
  json doc = json::parse(r.out);
  ASSERT_EQ(doc["groups"].size(), 1u) << r.out.substr(0, 600);
  EXPECT_EQ(doc["groups"][0]["tid"].get<int64_t>(), *tid.begin());
  EXPECT_EQ(doc["groups"][0]["comm"], "nst2");
}

// `-- CMD` in the namespace traces CMD under its namespace pid (aitrace is pid 1 there).
TEST(PidNamespace, CommandInTheNamespaceIsTraced) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_unshare();
  auto r = in_pid_namespace("exec " + quoted(test::aitrace_binary()) +
                            " sched --by process --json -- sh -c 'echo nscmd=$$ >&2; exec " +
                            test::workload("named_threads") + " steady 1000 nscmd'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<int64_t> cmd = test::ids_after(r.err, "nscmd");
  ASSERT_EQ(cmd.size(), 1u) << r.err;
  json doc = json::parse(r.out);
  bool seen = false;
  for (const auto& g : doc["groups"]) {
    EXPECT_EQ(g["pid"].get<int64_t>(), *cmd.begin()) << g.dump();
    seen |= g["comm"] == "named_threads" && g["counters"]["switches"].get<uint64_t>() > 0;
  }
  EXPECT_TRUE(seen) << r.out.substr(0, 600);
}

// Whole-system in the namespace covers the namespace's tasks only: a busy host process is not
// there, and every pid shown is one the namespace handed out (they are allocated upwards from 1,
// so none exceeds the pid of the last shell the namespace started).
TEST(PidNamespace, WholeSystemShowsOnlyTheNamespacesTasks) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  require_unshare();
  pid_t host = test::spawn_background({test::workload("named_threads"), "steady", "5000", "nshost"});
  ASSERT_GT(host, 0);
  auto r = in_pid_namespace(quoted(test::workload("named_threads")) + " steady 3000 nsin & w=$!; echo nswork=$w >&2; " +
                            quoted(test::aitrace_binary()) + " sched -d 1 --by thread --json; rc=$?; " +
                            "echo nslast=$(sh -c 'echo $$') >&2; kill $w; exit $rc");
  kill(host, SIGKILL);
  waitpid(host, nullptr, 0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<int64_t> w = test::ids_after(r.err, "nswork"), last = test::ids_after(r.err, "nslast");
  ASSERT_EQ(w.size(), 1u) << r.err;
  ASSERT_EQ(last.size(), 1u) << r.err;
  json doc = json::parse(r.out);
  bool ns_workload = false;
  for (const auto& g : doc["groups"]) {
    EXPECT_NE(g["comm"], "nshost") << "a host task: " << g.dump();
    const int64_t pid = g["pid"].get<int64_t>(), tid = g["tid"].get<int64_t>();
    EXPECT_GE(pid, 1) << g.dump();
    EXPECT_LE(pid, *last.begin()) << g.dump();
    EXPECT_LE(tid, *last.begin()) << g.dump();
    ns_workload |= pid == *w.begin() && g["comm"] == "nsin";
  }
  EXPECT_TRUE(ns_workload) << r.out.substr(0, 600);
}

}  // namespace
}  // namespace aitrace
