// A small "training job" with a step log, and CPU hogs to compete with it, for the slow-event
// tests and the incident walk-through of docs/incident.md.
//
//   step_log train STEPS [CPU [HOGS]]  thread `trainer`: each step computes ~2 ms and waits ~3 ms
//                                      for data (a sleep), and logs the step's wall time; thread
//                                      `loader` sleeps 50 ms at a time (a known off-CPU wait) for
//                                      as long; HOGS threads named `hog` spin until the last step
//   step_log hogs MS [CPU]             two threads named `hog` spinning for MS milliseconds
//
// Everything is pinned to one CPU (CPU < 0 or none: the highest allowed), so hogs and trainer
// meet on one run queue. `train` prints one JSON line per thread when it starts,
// {"tid":T,"role":"trainer"|"loader"}, then the step log on stdout:
//   HH:MM:SS.mmm step N: W.WW ms
// and, as the loader ends, {"role":"loader","longest_sleep_ns":N,"preempted_sleeps":K}.
#include "pin_cpu.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
std::mutex out_mutex;

void announce(const char* role) {
  prctl(PR_SET_NAME, role, 0, 0, 0);
  std::lock_guard<std::mutex> lock(out_mutex);
  std::printf("{\"tid\":%ld,\"role\":\"%s\"}\n", static_cast<long>(syscall(SYS_gettid)), role);
  std::fflush(stdout);
}

void spin_for(std::chrono::microseconds d) {
  const auto end = Clock::now() + d;
  volatile unsigned long spin = 0;
  while (Clock::now() < end)
    for (int i = 0; i < 100; i++) spin = spin + 1;
}

// The local time of day with milliseconds: the step log lines up with aitrace's TIME column.
std::string now_text() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  localtime_r(&ts.tv_sec, &local);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &local);
  char out[32];
  std::snprintf(out, sizeof(out), "%s.%03ld", buf, ts.tv_nsec / 1000000);
  return out;
}

void trainer(int steps, std::atomic<bool>& done) {
  announce("trainer");
  for (int step = 1; step <= steps; step++) {
    const auto begin = Clock::now();
    spin_for(std::chrono::microseconds(2000));                    // forward + backward
    std::this_thread::sleep_for(std::chrono::microseconds(3000));  // waiting for the next batch
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    std::lock_guard<std::mutex> lock(out_mutex);
    std::printf("%s step %d: %.2f ms\n", now_text().c_str(), step, ms);
    std::fflush(stdout);
  }
  done = true;
}

// The thread's involuntary switches so far (preemptions).
long preemptions() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

// At exit it prints {"role":"loader","longest_sleep_ns":N,"preempted_sleeps":K}: its longest
// sleep as it measured it, from before the call to after the return, so it contains the
// kernel's sleep interval (from the switch-out to the wakeup) and bounds what a tracer may report
// for any one sleep; and how many of its sleep calls were preempted. The timer is armed before
// the switch-out, so a preemption between the two moves the switch-out later: the kernel's
// sleep interval is then shorter than 50 ms (CI's ASAN run once listed 49.885 ms).
void loader(const std::atomic<bool>& done) {
  announce("loader");
  Clock::duration longest{};
  long preempted = 0;
  while (!done) {
    const long before = preemptions();
    const auto begin = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    longest = std::max(longest, Clock::now() - begin);
    preempted += preemptions() != before;
  }
  std::lock_guard<std::mutex> lock(out_mutex);
  std::printf("{\"role\":\"loader\",\"longest_sleep_ns\":%lld,\"preempted_sleeps\":%ld}\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(longest).count()),
              preempted);
  std::fflush(stdout);
}

void hog(Clock::time_point end, const std::atomic<bool>& done) {
  prctl(PR_SET_NAME, "hog", 0, 0, 0);
  volatile unsigned long spin = 0;
  while (!done && Clock::now() < end)
    for (int i = 0; i < 1000; i++) spin = spin + 1;
}

// A whole-number argument; a bad one is a usage error, never 0.
int int_arg(const char* s) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno || end == s || *end || v < INT_MIN || v > INT_MAX) {
    std::fprintf(stderr, "step_log: '%s' is not a whole number\n", s);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s train STEPS [CPU [HOGS]] | hogs MS [CPU]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const int n = int_arg(argv[2]);
  if (workload::pin_to_one_cpu(argc > 3 ? int_arg(argv[3]) : -1) < 0) {
    std::perror("sched_setaffinity");
    return 1;
  }
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  if (mode == "train") {
    const int hogs = argc > 4 ? int_arg(argv[4]) : 0;
    threads.emplace_back(loader, std::cref(done));
    threads.emplace_back(trainer, n, std::ref(done));
    for (int i = 0; i < hogs; i++) threads.emplace_back(hog, Clock::time_point::max(), std::cref(done));
  } else if (mode == "hogs") {
    const auto end = Clock::now() + std::chrono::milliseconds(n);
    for (int i = 0; i < 2; i++) threads.emplace_back(hog, end, std::cref(done));
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  for (auto& t : threads) t.join();
  return 0;
}
