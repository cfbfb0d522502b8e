// Scheduling shapes with ground truth from the kernel's own accounting, for `aitrace sched` tests.
//
//   sched_truth MODE [DURATION_MS] [CPU]
//   MODE: hogs          two CPU hogs contending on one CPU (preemption: runq_preempt)
//         pingpong      two threads bouncing a byte over pipes on one CPU (wakeups: runq_wakeup)
//         pingpong_hog  the ping-pong with a hog on the same CPU (both kinds of wait)
//         sleeper       one thread that sleeps in short naps (offcpu_sleep), for filter tests
//         naps          four threads that sleep 500 us at a time: beside `hogs` of another
//                       process on the same CPU, most of their wakeups preempt a hog
//         badname       the sleeper, named with terminal control bytes (escaping tests)
//
// Everything is pinned to one CPU (default: the highest allowed) before any worker starts, so
// workers never migrate. When its work is done, each worker parks: it blocks in pause() for good.
// The main thread (on the same CPU) waits until every worker is asleep, reads each one's
// /proc/self/task/TID/schedstat and prints one JSON line per worker:
// {"tid":T,"role":"...","run_ns":N,"wait_ns":N,"slices":N} (schedstat fields: time on CPU, time
// waiting on a run queue, number of timeslices). Then it ends the process with the workers still
// parked, so what a tracer sees of a worker after that read is exactly one switch-in: the wakeup
// by exit_group's SIGKILL, and its exit. A worker reading its own schedstat before it exits (as
// this workload once did) leaves a tail of unknown length after the read, 10x longer under QEMU
// TCG than natively: printing, the output lock, the join wakeups that preempt it.
#include "pin_cpu.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "workload_args.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::mutex parked_mutex;
std::condition_variable all_parked;
std::atomic<int> ready{0};
int workers = 0;

struct Schedstat {
  unsigned long long run = 0, wait = 0, slices = 0;
};

Schedstat read_schedstat() {
  Schedstat s;
  std::ifstream f("/proc/thread-self/schedstat");
  if (!(f >> s.run >> s.wait >> s.slices)) {
    std::fprintf(stderr, "sched_truth: cannot read /proc/thread-self/schedstat\n");
    std::exit(1);
  }
  return s;
}

thread_local Schedstat at_start;  // the thread's first wait (creation -> first run)

struct Parked {
  long tid;
  const char* role;
  Schedstat start;
};
std::vector<Parked> parked;  // guarded by parked_mutex

// The end of every worker: it registers and sleeps until exit_group kills it.
[[noreturn]] void park(const char* role) {
  {
    std::lock_guard<std::mutex> lock(parked_mutex);
    parked.push_back({syscall(SYS_gettid), role, at_start});
    if (static_cast<int>(parked.size()) == workers) all_parked.notify_one();
  }
  for (;;) pause();
}

Schedstat read_schedstat_of(long tid) {
  Schedstat s;
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  if (!(f >> s.run >> s.wait >> s.slices)) {
    std::fprintf(stderr, "sched_truth: cannot read the schedstat of thread %ld\n", tid);
    std::exit(1);
  }
  return s;
}

char state_of(long tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the comm may hold anything, ')' included
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

// Waits until every worker is parked and off the CPU for good, then prints their schedstat.
// A worker that registered may still be runnable (preempted before pause() blocks, or in the
// window between pause() setting the sleeping state and calling schedule(), where /proc already
// says S): it is taken as parked only when it shows S and its schedstat stays the same across a
// 10 ms sleep of this thread, which gives the CPU (all of them share it) to any runnable worker.
//
// No timer wakes this thread before the last worker has registered: a wakeup that preempts a
// worker between its sleeping state and schedule() (a nap, the pause()) leaves it queued without
// a wakeup, which tracers account differently (docs/sched.md, preempted while going to sleep);
// with this thread polling every 10 ms through the workers' last naps, aitrace's raw_tp twin
// counted one more wakeup than bpftrace in 4 of 15 SchedReference runs (none in 10 without it).
void report_parked() {
  std::vector<Parked> all;
  {
    std::unique_lock<std::mutex> lock(parked_mutex);
    all_parked.wait(lock, [] { return static_cast<int>(parked.size()) == workers; });
    all = parked;
  }
  std::vector<Schedstat> before;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::vector<Schedstat> now;
    bool asleep = true;
    for (const auto& p : all) {
      now.push_back(read_schedstat_of(p.tid));
      asleep = asleep && state_of(p.tid) == 'S';
    }
    bool same = before.size() == now.size();
    for (size_t i = 0; same && i < now.size(); i++)
      same = now[i].run == before[i].run && now[i].wait == before[i].wait && now[i].slices == before[i].slices;
    if (asleep && same) break;
    before = now;
  }
  for (size_t i = 0; i < all.size(); i++)
    std::printf(
        "{\"tid\":%ld,\"role\":\"%s\",\"run_ns\":%llu,\"wait_ns\":%llu,\"slices\":%llu,"
        "\"start_wait_ns\":%llu,\"start_slices\":%llu}\n",
        all[i].tid, all[i].role, before[i].run, before[i].wait, before[i].slices, all[i].start.wait,
        all[i].start.slices);
  std::fflush(stdout);
}

// All workers start together, so the contention covers the whole run.
void start_together() {
  at_start = read_schedstat();
  ready.fetch_add(1);
  while (ready.load() < workers) sched_yield();
}

void hog(Clock::time_point end) {
  start_together();
  volatile unsigned long spin = 0;
  while (Clock::now() < end)
    for (int i = 0; i < 1000; i++) spin = spin + 1;
  park("hog");
}

void sleeper(Clock::time_point end, bool bad_name) {
  // ESC [ 3 1 m: a comm that would colour a terminal if printed raw.
  if (bad_name) prctl(PR_SET_NAME, "evil\x1b[31m\xff", 0, 0, 0);
  start_together();
  while (Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  park("sleeper");
}

void napper(Clock::time_point end) {
  start_together();
  while (Clock::now() < end) std::this_thread::sleep_for(std::chrono::microseconds(500));
  park("napper");
}

// The pinger decides when to stop and tells the ponger with 'q'.
void pinger(int wr, int rd, Clock::time_point end) {
  start_together();
  char c = 'p';
  for (;;) {
    bool stop = Clock::now() >= end;
    c = stop ? 'q' : 'p';
    if (write(wr, &c, 1) != 1 || read(rd, &c, 1) != 1) std::exit(1);
    if (stop) break;
  }
  park("ping");
}

void ponger(int wr, int rd) {
  start_together();
  char c = 0;
  for (;;) {
    if (read(rd, &c, 1) != 1 || write(wr, &c, 1) != 1) std::exit(1);
    if (c == 'q') break;
  }
  park("pong");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s hogs|pingpong|pingpong_hog|sleeper|naps|badname [DURATION_MS] [CPU]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  int ms = argc > 2 ? int_arg(argv[2], "sched_truth: DURATION_MS") : 1000;
  int cpu = argc > 3 ? int_arg(argv[3], "sched_truth: CPU") : -1;
  if (workload::pin_to_one_cpu(cpu) < 0) {
    std::perror("sched_setaffinity");
    return 1;
  }
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  std::vector<std::thread> threads;
  int ab[2], ba[2];
  bool pingpong = mode == "pingpong" || mode == "pingpong_hog";
  if (pingpong && (pipe(ab) != 0 || pipe(ba) != 0)) return 1;
  if (mode == "hogs") {
    workers = 2;
    threads.emplace_back(hog, end);
    threads.emplace_back(hog, end);
  } else if (pingpong) {
    workers = mode == "pingpong_hog" ? 3 : 2;
    threads.emplace_back(pinger, ab[1], ba[0], end);
    threads.emplace_back(ponger, ba[1], ab[0]);
    if (workers == 3) threads.emplace_back(hog, end);
  } else if (mode == "naps") {
    workers = 4;
    for (int i = 0; i < workers; i++) threads.emplace_back(napper, end);
  } else if (mode == "sleeper" || mode == "badname") {
    workers = 1;
    threads.emplace_back(sleeper, end, mode == "badname");
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  for (auto& t : threads) t.detach();
  report_parked();
  // exit_group with the workers parked: each is woken once by its SIGKILL and exits.
  _exit(0);
}
