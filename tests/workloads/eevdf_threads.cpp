// Threads sharing one CPU under EEVDF, with known scheduling parameters, reporting the kernel's
// own accounting (/proc/thread-self/sched) when they finish.
//   eevdf_threads slice  OUT MS   "custom" (sched_setattr sched_runtime = 3 ms) + "default", spinning
//   eevdf_threads nice   OUT MS   "nice0" + "nice5", spinning
//   eevdf_threads sleepy OUT MS   "sleeper" (300 us sleeps) + "spinner"
//   eevdf_threads pingpong OUT MS "ping" + "pong" passing a byte over pipes: a switch per message
// OUT gets one line per thread: name tid slice nr_switches nr_voluntary nr_involuntary sum_exec_ns weight
// (sum_exec_ns: CLOCK_THREAD_CPUTIME_ID, the kernel's sum_exec_runtime up to date; the rest from
// /proc/thread-self/sched)
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "workload_args.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct SchedAttr {  // SCHED_ATTR_SIZE_VER0
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};

std::mutex out_mu;
std::FILE* out = nullptr;
pthread_barrier_t start_barrier;
int cpu = 0;

uint64_t field(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size() || line[name.size()] != ' ') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    double v = std::strtod(line.c_str() + colon + 1, nullptr);
    return static_cast<uint64_t>(v);
  }
  return 0;
}

// The kernel's sum_exec_runtime of the calling thread, brought up to date first
// (task_sched_runtime()): /proc's se.sum_exec_runtime of a running thread is as of its last
// tick or switch.
uint64_t own_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void report(const char* name) {
  std::ifstream f("/proc/thread-self/sched");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  std::lock_guard<std::mutex> lock(out_mu);
  std::fprintf(out, "%s %ld %lu %lu %lu %lu %lu %lu\n", name, syscall(SYS_gettid), field(s, "se.slice"),
               field(s, "nr_switches"), field(s, "nr_voluntary_switches"), field(s, "nr_involuntary_switches"),
               own_cpu_ns(), field(s, "se.load.weight"));
  std::fflush(out);
}

struct Spec {
  const char* name;
  int nice = 0;
  uint64_t slice_ns = 0;
  bool sleeps = false;
  int pingpong = -1;  // 0: ping (writes first), 1: pong
};

int pipes[2][2];
std::atomic<bool> stop_pingpong{false};

void pingpong_loop(int role, std::chrono::steady_clock::time_point end) {
  char c = 0;
  int in = pipes[role][0], out = pipes[1 - role][1];
  if (role == 0 && write(out, &c, 1) != 1) return;
  for (uint64_t n = 0;; n++) {
    if (read(in, &c, 1) != 1) return;
    if ((n & 255) == 0 && std::chrono::steady_clock::now() >= end) stop_pingpong = true;
    c = stop_pingpong ? 1 : 0;
    if (write(out, &c, 1) != 1) return;
    if (c) return;
  }
}

void worker(Spec spec, std::chrono::milliseconds dur) {
  pthread_setname_np(pthread_self(), spec.name);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
  if (spec.nice) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), spec.nice);
  if (spec.slice_ns) {
    SchedAttr a{};
    a.size = sizeof(a);
    a.sched_policy = SCHED_OTHER;
    a.sched_runtime = spec.slice_ns;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) std::perror("sched_setattr");
  }
  pthread_barrier_wait(&start_barrier);
  auto end = std::chrono::steady_clock::now() + dur;
  volatile uint64_t sink = 0;
  if (spec.pingpong >= 0) pingpong_loop(spec.pingpong, end);
  while (spec.pingpong < 0 && std::chrono::steady_clock::now() < end) {
    if (spec.sleeps) {
      usleep(300);
    } else {
      for (int i = 0; i < 10000; i++) sink = sink + i;
    }
  }
  report(spec.name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: eevdf_threads slice|nice|sleepy|pingpong OUT MS\n");
    return 2;
  }
  std::string mode = argv[1];
  out = std::fopen(argv[2], "w");
  if (!out) {
    std::perror(argv[2]);
    return 1;
  }
  auto dur = std::chrono::milliseconds(int_arg(argv[3], "eevdf_threads: MS"));
  cpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1;
  std::vector<Spec> specs;
  if (mode == "slice") {
    specs = {{"custom", 0, 3000000, false}, {"default", 0, 0, false}};
  } else if (mode == "nice") {
    specs = {{"nice0", 0, 0, false}, {"nice5", 5, 0, false}};
  } else if (mode == "sleepy") {
    specs = {{"sleeper", 0, 0, true}, {"spinner", 0, 0, false}};
  } else if (mode == "pingpong") {
    if (pipe(pipes[0]) || pipe(pipes[1])) return 1;
    specs = {{"ping", 0, 0, false, 0}, {"pong", 0, 0, false, 1}};
  } else {
    std::fprintf(stderr, "eevdf_threads: unknown mode %s\n", argv[1]);
    return 2;
  }
  pthread_barrier_init(&start_barrier, nullptr, static_cast<unsigned>(specs.size()));
  std::vector<std::thread> threads;
  threads.reserve(specs.size());
  for (const auto& s : specs) threads.emplace_back(worker, s, dur);
  for (auto& t : threads) t.join();
  std::fclose(out);
  return 0;
}
