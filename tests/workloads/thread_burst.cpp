// A burst of new threads, for the EEVDF trace's ring sizing (issue 12, item 3): N threads
// created back to back, all alive at once; each sleeps SLEEPS times for 1 ms (a wakeup and two
// switches each) and exits. Prints how many threads ran.
//   thread_burst N SLEEPS
#include <pthread.h>
#include <time.h>

#include "workload_args.hpp"

#include <atomic>
#include <cstdio>
#include <vector>

namespace {

int sleeps = 0;
std::atomic<int> ran{0};

void* body(void*) {
  const timespec ms{0, 1000000};
  for (int i = 0; i < sleeps; i++) nanosleep(&ms, nullptr);
  ran++;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: thread_burst N SLEEPS\n");
    return 2;
  }
  const int n = int_arg(argv[1], "thread_burst: N");
  sleeps = int_arg(argv[2], "thread_burst: SLEEPS");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);  // 3000 default stacks would reserve 24 GB
  std::vector<pthread_t> threads(static_cast<size_t>(n));
  for (auto& t : threads)
    if (pthread_create(&t, &attr, body, nullptr) != 0) {
      std::perror("thread_burst: pthread_create");
      return 1;
    }
  for (auto& t : threads) pthread_join(t, nullptr);
  std::printf("%d\n", ran.load());
  return 0;
}
