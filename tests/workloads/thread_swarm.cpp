// Many threads at once, or many in a row: the scale and memory workloads of issue 12.
//   thread_swarm sleepers N MS NAP_MS   N threads alive together, each sleeping and waking again
//                                       until MS have passed since the last one started; the naps
//                                       cycle through NAP_MS * (8..15) / 8, so each thread's
//                                       samples spread over many histogram buckets
//   thread_swarm storm N BATCH          N short-lived threads, BATCH alive at a time: each naps
//                                       1 ms twice (two sleeps, two wakeups, ~4 switches) and exits
// Prints one JSON line when done: {"threads":N,"started":S}, S the threads that did start (a
// failed pthread_create ends the start phase early, with a line on stderr and exit code 1).
// Stacks are 64 KiB: 10,000 threads then take ~640 MB of address space, not 80 GB.
#include <pthread.h>
#include <sys/prctl.h>

#include "workload_args.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Sleeper {
  std::atomic<bool>* go;
  Clock::time_point* until;
  int nap_ms;
};

void* sleeper(void* arg) {
  const auto* s = static_cast<const Sleeper*>(arg);
  prctl(PR_SET_NAME, "swarm", 0, 0, 0);
  // Sleep at least once even before the last thread starts: every thread is seen waking.
  int i = 0;
  do {
    std::this_thread::sleep_for(std::chrono::microseconds(s->nap_ms * 125 * (8 + i++ % 8)));
  } while (!s->go->load(std::memory_order_acquire) || Clock::now() < *s->until);
  return nullptr;
}

void* storm_thread(void*) {
  prctl(PR_SET_NAME, "storm", 0, 0, 0);
  for (int i = 0; i < 2; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return nullptr;
}

bool start(pthread_t* t, void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t{64} * 1024);
  int err = pthread_create(t, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  if (err) std::fprintf(stderr, "thread_swarm: pthread_create: %s\n", std::strerror(err));
  return err == 0;
}

int finish(int wanted, int started) {
  std::printf("{\"threads\":%d,\"started\":%d}\n", wanted, started);
  return started == wanted ? 0 : 1;
}

int sleepers(int n, int ms, int nap_ms) {
  std::atomic<bool> go{false};
  Clock::time_point until{};
  Sleeper s{&go, &until, nap_ms};
  std::vector<pthread_t> threads(static_cast<size_t>(n));
  int started = 0;
  while (started < n && start(&threads[static_cast<size_t>(started)], sleeper, &s)) started++;
  until = Clock::now() + std::chrono::milliseconds(ms);
  go.store(true, std::memory_order_release);
  for (int i = 0; i < started; i++) pthread_join(threads[static_cast<size_t>(i)], nullptr);
  // pthread_join returns when the kernel clears the thread's tid (mm_release), before its last
  // schedule(): give those last switch-outs time to land before a tracer reads its totals.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return finish(n, started);
}

int storm(int n, int batch) {
  std::vector<pthread_t> threads(static_cast<size_t>(batch));
  int started = 0;
  while (started < n) {
    int round = 0;
    while (round < batch && started < n && start(&threads[static_cast<size_t>(round)], storm_thread, nullptr)) {
      round++;
      started++;
    }
    for (int i = 0; i < round; i++) pthread_join(threads[static_cast<size_t>(i)], nullptr);
    if (round == 0) break;
    if (round < batch && started < n) break;  // pthread_create failed
  }
  return finish(n, started);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "sleepers" && argc == 5) {
    int n = int_arg(argv[2], "N"), ms = int_arg(argv[3], "MS"), nap = int_arg(argv[4], "NAP_MS");
    if (n < 1 || ms < 0 || nap < 1) return std::fprintf(stderr, "thread_swarm: N and NAP_MS >= 1, MS >= 0\n"), 2;
    return sleepers(n, ms, nap);
  }
  if (mode == "storm" && argc == 4) {
    int n = int_arg(argv[2], "N"), batch = int_arg(argv[3], "BATCH");
    if (n < 1 || batch < 1) return std::fprintf(stderr, "thread_swarm: N and BATCH >= 1\n"), 2;
    return storm(n, batch);
  }
  std::fprintf(stderr, "usage: thread_swarm sleepers N MS NAP_MS | thread_swarm storm N BATCH\n");
  return 2;
}
