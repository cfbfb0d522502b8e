// `aitrace sched` against a reference it did not write: a bpftrace one-liner attached at the same
// time, summing bpf_ktime_get_ns() (`nsecs`) from sched_wakeup to the switch-in per tid, as
// runqlat does. The shape is the one where the run queue's clock lies: short sleepers pinned
// beside CPU hogs of another process, so most wakeups preempt a hog and the kernel skips the
// next rq clock update (rq_clock_skip_update; docs/sched.md, "Clocks"). The default wall clock
// must agree with the reference per thread; the rq clock (`--clock rq`, schedstat's view) reads
// most of these waits as 0 ns and fails the same check, which the second test asserts.
//
// Host-only: the VM guests' initramfs has no bpftrace, and where it had, the two guests side by
// side missed the bound (tests/vm/guest_tests.txt says by how much).
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace aitrace {
namespace {

// Sub-microsecond: below 1024 ns, a bucket bound of aitrace's histogram (16 sub-buckets per
// power of two: the bucket below 1024 ends at 1023), so both sides count exactly the same range.
constexpr uint64_t kSubMicrosecond = 1024;

// The wakeup end is sched_wakeup (and _new, as aitrace's runq_wakeup); a task switched out before
// its switch-in was woken while still on its CPU, which starts no wait in aitrace either.
constexpr const char* kReferenceScript = R"(
BEGIN { printf("ready\n"); }
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new /args->comm == "sched_truth"/ {
  @ts[args->pid] = nsecs;
}
tracepoint:sched:sched_switch {
  delete(@ts[args->prev_pid]);
  $ts = @ts[args->next_pid];
  if ($ts) {
    $d = nsecs - $ts;
    @sum[args->next_pid] = sum($d);
    @count[args->next_pid] = count();
    if ($d < 1024) { @sub[args->next_pid] = count(); }
    delete(@ts[args->next_pid]);
  }
}
END { clear(@ts); }
)";

struct Waits {
  uint64_t sum = 0, count = 0, sub_us = 0;
};

std::string find_bpftrace() {
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/usr/local/bin"}) {
    std::string p = std::string(dir) + "/bpftrace";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// bpftrace with -f json writes one document per line; the maps come when it stops.
std::map<uint64_t, Waits> parse_reference(const std::string& out) {
  std::map<uint64_t, Waits> ref;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("type", "") != "map") continue;
    for (const auto& [name, values] : j["data"].items())
      for (const auto& [tid, v] : values.items()) {
        Waits& w = ref[std::stoull(tid)];
        (name == "@sum" ? w.sum : name == "@count" ? w.count : w.sub_us) = v.get<uint64_t>();
      }
  }
  return ref;
}

class Reference {
 public:
  // Starts bpftrace and waits until its probes are attached (BEGIN runs after the attach).
  explicit Reference(const std::string& bpftrace) {
    script_ = "/tmp/aitrace_ref_" + std::to_string(getpid()) + ".bt";
    out_ = "/tmp/aitrace_ref_" + std::to_string(getpid()) + ".out";
    err_ = "/tmp/aitrace_ref_" + std::to_string(getpid()) + ".err";
    FILE* f = std::fopen(script_.c_str(), "w");
    if (!f) return;
    std::fputs(kReferenceScript, f);
    std::fclose(f);
    unlink(out_.c_str());
    std::vector<std::string> argv = {bpftrace, "-f", "json", "-o", out_, script_};
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; pid_ > 0 && i < 1200 && !ready_; i++) {
      ready_ = test::read_file(out_).find("ready") != std::string::npos;
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~Reference() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    unlink(script_.c_str());
    unlink(out_.c_str());
    unlink(err_.c_str());
  }
  bool ready() const { return ready_; }
  std::string errors() const { return test::read_file(err_); }
  // Stops bpftrace (SIGINT: it prints its maps) and returns them.
  std::map<uint64_t, Waits> stop() {
    kill(pid_, SIGINT);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return parse_reference(test::read_file(out_));
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string script_, out_, err_;
};

uint64_t sub_us_samples(const nlohmann::json& hist) {
  uint64_t n = 0;
  for (const auto& b : hist["buckets"])
    if (b[0].get<uint64_t>() < kSubMicrosecond) n += b[1].get<uint64_t>();
  return n;
}

struct Comparison {
  int threads = 0, agreeing = 0;
  std::string report;
};

// One traced run of the nappers beside the hogs, the reference attached throughout.
Comparison compare_with_reference(const std::vector<std::string>& extra) {
  Comparison c;
  std::string bpftrace = find_bpftrace();
  Reference ref(bpftrace);
  EXPECT_TRUE(ref.ready()) << "bpftrace did not attach: " << ref.errors();
  if (!ref.ready()) return c;
  // Two hogs of another process on the CPU the nappers are pinned to (both: the highest allowed).
  pid_t hogs = test::spawn_background({test::workload("sched_truth"), "hogs", "30000"});
  EXPECT_GT(hogs, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // spinning before the nappers start
  std::string out = "/tmp/aitrace_sched_ref_" + std::to_string(getpid()) + ".json";
  unlink(out.c_str());
  std::vector<std::string> argv = {test::aitrace_binary(), "sched", "--by", "thread", "--json", "-o", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--", test::workload("sched_truth"), "naps", "2000"});
  auto r = test::run_command(argv);
  kill(hogs, SIGKILL);
  waitpid(hogs, nullptr, 0);
  auto reference = ref.stop();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(test::read_file(out), nullptr, false);
  unlink(out.c_str());
  EXPECT_TRUE(doc.is_object());
  if (!doc.is_object()) return c;
  EXPECT_EQ(doc["lost"]["task_state_missing"], 0);
  // lost.transitions_missed is not asserted: this shape dropped 0-11 per run with either clock (the
  // old rq default too). The cause, found since: no BPF tracepoint program runs while a thread of
  // PID 1 is current on this VM; most such gaps are now repaired from the kernel's stamps, but not
  // those no stamp fits (docs/sched.md, "Switches this VM never traces"). The count check below
  // bounds what they can hide.

  std::map<uint64_t, nlohmann::json> groups;
  for (const auto& g : doc["groups"])
    if (!g["tid"].is_null()) groups[g["tid"].get<uint64_t>()] = g;
  std::istringstream lines(r.out);
  std::string line;
  std::ostringstream report;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    uint64_t tid = nlohmann::json::parse(line)["tid"].get<uint64_t>();
    c.threads++;
    const Waits& want = reference[tid];
    Waits got;
    if (groups.count(tid)) {
      const auto& h = groups[tid]["histograms"]["runq_wakeup"];
      got = {h["sum"].get<uint64_t>(), h["count"].get<uint64_t>(), sub_us_samples(h)};
    }
    double sum_bound = 0.02 * static_cast<double>(want.sum) + 500.0 * static_cast<double>(want.count);
    double count_bound = 0.01 * static_cast<double>(want.count) + 3;
    bool sum_ok = std::fabs(static_cast<double>(got.sum) - static_cast<double>(want.sum)) <= sum_bound;
    bool count_ok = std::fabs(static_cast<double>(got.count) - static_cast<double>(want.count)) <= count_bound;
    bool sub_ok = got.sub_us <= want.sub_us;
    report << "tid " << tid << ": runq_wakeup sum " << got.sum << " ns vs reference " << want.sum << " (bound "
           << sum_bound << ")" << (sum_ok ? "" : " FAIL") << ", count " << got.count << " vs " << want.count
           << (count_ok ? "" : " FAIL") << ", under 1024 ns " << got.sub_us << " vs " << want.sub_us
           << (sub_ok ? "" : " FAIL") << "\n";
    // Every napper wakes about 4000 times in 2 s; far fewer means the shape did not happen.
    EXPECT_GT(want.count, 1000u) << "tid " << tid << ": the reference saw too few wakeups";
    if (sum_ok && count_ok && sub_ok) c.agreeing++;
  }
  EXPECT_EQ(c.threads, 4) << r.out;
  c.report = report.str();
  std::printf("%s", c.report.c_str());  // the numbers, also when every check passes
  return c;
}

bool bpftrace_available() { return !find_bpftrace().empty(); }

TEST(SchedReference, WallClockRunQueueWaitMatchesBpftracePerThread) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!bpftrace_available()) AITRACE_REQUIRE_ENV_OR_SKIP("bpftrace is not installed (scripts/setup installs it)");
  Comparison c = compare_with_reference({});
  EXPECT_EQ(c.agreeing, c.threads) << c.report;
}

// The raw_tp twins read the same clock at the same tracepoints.
TEST(SchedReference, WallClockWithRawTpMatchesBpftracePerThread) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!bpftrace_available()) AITRACE_REQUIRE_ENV_OR_SKIP("bpftrace is not installed (scripts/setup installs it)");
  Comparison c = compare_with_reference({"--hook", "raw_tp"});
  EXPECT_EQ(c.agreeing, c.threads) << c.report;
}

// The old default: the run queue's clock misses the time between a preempting wakeup and the
// switch-in. It must fail the very check the wall clock passes, or the test above proves nothing.
TEST(SchedReference, RqClockFailsTheSameCheck) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  if (!bpftrace_available()) AITRACE_REQUIRE_ENV_OR_SKIP("bpftrace is not installed (scripts/setup installs it)");
  Comparison c = compare_with_reference({"--clock", "rq"});
  EXPECT_GT(c.threads, 0);
  EXPECT_EQ(c.agreeing, 0) << c.report;
}

}  // namespace
}  // namespace aitrace
