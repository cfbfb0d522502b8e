// Shared by the unit, bpf and e2e test binaries.
#pragma once

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace aitrace {
class KernelFeatures;
}

namespace aitrace::test {

// This kernel's features, one object per preferred hook type ("tp_btf", "raw_tp", "tracepoint";
// nullptr: none), kept for the test binary's life because collectors keep a reference.
const KernelFeatures& features(const char* preferred = nullptr);

// Empty when this process can load and attach BPF programs; otherwise the reason it cannot.
std::string bpf_unavailable_reason();
bool bpf_required();  // AITRACE_REQUIRE_BPF=1

// Skips the test with the reason, or fails it when AITRACE_REQUIRE_BPF=1 (CI).
#define AITRACE_REQUIRE_BPF_OR_SKIP()                                                       \
  do {                                                                                      \
    std::string why_ = ::aitrace::test::bpf_unavailable_reason();                           \
    if (!why_.empty()) {                                                                    \
      if (::aitrace::test::bpf_required()) FAIL() << "AITRACE_REQUIRE_BPF=1 but " << why_;  \
      GTEST_SKIP() << "BPF unavailable: " << why_; /* only without AITRACE_REQUIRE_BPF=1 */ \
    }                                                                                       \
  } while (0)

// For what every CI host has (tracefs, cgroup v2, setpriv, bpftool): skips with the reason on a
// bare developer box, fails when AITRACE_REQUIRE_BPF=1 so CI cannot skip it unseen.
#define AITRACE_REQUIRE_ENV_OR_SKIP(reason)                                                  \
  do {                                                                                       \
    if (::aitrace::test::bpf_required()) FAIL() << "AITRACE_REQUIRE_BPF=1 but " << (reason); \
    GTEST_SKIP() << (reason); /* reached only without AITRACE_REQUIRE_BPF=1 */               \
  } while (0)

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out, err;
  bool timed_out = false;
};

// Runs argv (no shell), capturing stdout/stderr; killed after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Starts argv (no shell) in the background with stdout to /dev/null and no signal blocked;
// returns its pid, or -1. The caller reaps it.
// stdout on /dev/null, stderr inherited or into stderr_path; argv[0] is searched in PATH.
pid_t spawn_background(const std::vector<std::string>& argv, const std::string& stderr_path = "");
// A process started with spawn_background, killed (SIGKILL) and reaped at scope end unless
// wait() reaped it first.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv, const std::string& stderr_path = "")
      : pid_(spawn_background(argv, stderr_path)) {}
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background();
  pid_t pid() const { return pid_; }
  int wait();  // exit code, 128+signal when killed

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

std::string aitrace_binary();
// From `aitrace sched -v`'s stderr: the switches and wakeups no program saw that sched closed
// from the kernel's sched_info stamps (docs/sched.md, "Switches this VM never traces"); 0 if
// none. sched counts such switches, a trace of the same run cannot.
uint64_t repaired_switches(const std::string& err);
std::string workload(const std::string& name);  // path of tests/workloads/<name>.cpp's binary
std::string read_file(const std::string& path);
// The calling thread's own scheduling counts, as the kernel keeps them: the ground truth of the
// tests that count one thread's switches.
struct Schedstat {
  unsigned long long run = 0, wait = 0, slices = 0;  // /proc/thread-self/schedstat (slices: pcount)
  unsigned long long voluntary = 0;  // voluntary_ctxt_switches: the times it really went to sleep
  unsigned long long involuntary = 0;  // nonvoluntary_ctxt_switches: preemptions
};
Schedstat own_schedstat();
Schedstat thread_schedstat(uint32_t tid);  // one of this process's threads
// The CPUs the calling thread may run on, in order.
std::vector<int> allowed_cpus();
// Keeps the calling thread on one CPU while it lives, then lets it run where it could before:
// for tests whose threads must not take turns on one CPU, or must.
class CpuPin {
 public:
  explicit CpuPin(int cpu);
  ~CpuPin();
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;
  // Whether the thread is on that CPU now: a test that needs it says so when it is not.
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t before_;
  bool pinned_ = false;
};
// Polls the file every 10 ms until it contains `needle` (aitrace's readiness line in a stderr
// file, say); false when the timeout passed first.
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));
// A loopback TCP port nothing listens on right now (the kernel's pick for port 0); 0 if none.
int free_port();
std::string test_data(const std::string& relative);  // tests/<relative>
// The numbers after the first `key=` in `text`, up to the end of that line ("tids=2 3 4" -> {2, 3,
// 4}): ids a shell in a namespace printed with `echo key=...`.
std::set<int64_t> ids_after(const std::string& text, const std::string& key);

// Runs a raw_tp (or tp_btf) program once with `args` as its u64 argument array
// (BPF_PROG_TEST_RUN); returns the program's return value, or -errno on failure.
int run_raw_tp(int prog_fd, const std::vector<uint64_t>& args);

// The fds of every BPF map named `name` with u32 keys that this process holds open (found
// through /proc/self/fd), and their keys: what a collector's map really contains, without an
// accessor in its API.
std::vector<int> own_map_fds_u32(const std::string& name);
std::vector<uint32_t> own_map_keys_u32(const std::string& name);

// The fds of every BPF program this process holds open (found through /proc/self/fd).
std::vector<int> own_prog_fds();

}  // namespace aitrace::test
