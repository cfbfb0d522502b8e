// Threads with given comm names that sleep and wake in a loop, for the serve tests (label values
// built from comm names, counters across threads that exit and are replaced).
//   named_threads steady MS NAME...  one thread per NAME, each 200 us sleeps for MS
//   named_threads churn  MS NAME     a thread named NAME at a time, each doing 20 sleeps and
//                                    exiting, replaced until MS have passed
// Names are set with prctl(PR_SET_NAME), which takes any bytes (quotes, backslashes, newlines).
#include <sys/prctl.h>

#include "workload_args.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void sleeper(const std::string& name, Clock::time_point until, int max_sleeps) {
  prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  for (int i = 0; Clock::now() < until && (max_sleeps < 0 || i < max_sleeps); i++)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: named_threads steady|churn MS NAME...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto until = Clock::now() + std::chrono::milliseconds(int_arg(argv[2], "named_threads: MS"));
  if (mode == "steady") {
    std::vector<std::thread> ts;
    for (int i = 3; i < argc; i++) ts.emplace_back(sleeper, std::string(argv[i]), until, -1);
    for (auto& t : ts) t.join();
    return 0;
  }
  if (mode == "churn") {
    int threads = 0;
    while (Clock::now() < until) {
      std::thread(sleeper, std::string(argv[3]), until, 20).join();
      threads++;
    }
    std::printf("%d\n", threads);
    return 0;
  }
  std::fprintf(stderr, "named_threads: unknown mode %s\n", argv[1]);
  return 2;
}
