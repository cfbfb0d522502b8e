// A reused pid, made on purpose: `pid_reuse` forks a child "alpha" that naps and exits, reaps it,
// then sets /proc/sys/kernel/ns_last_pid so that its next fork, "beta", gets alpha's pid (root,
// in the initial pid namespace). Another fork on the machine may take the pid first: then it
// tries again with a new alpha, up to 20 times. Prints one JSON line:
//   {"pid":P,"reused":true}   (or "reused":false when every try lost the race)
// Each child naps 2 ms three times (alpha) or twelve times (beta): their switch counts differ.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {

pid_t child(const char* name, int naps) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_NAME, name, 0, 0, 0);
  for (int i = 0; i < naps; i++) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  _exit(0);
}

bool set_last_pid(pid_t last) {
  FILE* f = std::fopen("/proc/sys/kernel/ns_last_pid", "w");
  if (!f) return false;
  bool ok = std::fprintf(f, "%d", static_cast<int>(last)) > 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main() {
  for (int attempt = 0; attempt < 20; attempt++) {
    pid_t alpha = child("alpha", 3);
    if (alpha < 0 || waitpid(alpha, nullptr, 0) != alpha) return 1;
    // The dead task is freed an RCU grace period after it was reaped; let that pass, so the
    // tracer sees alpha's sched_process_free before beta exists.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!set_last_pid(alpha - 1)) {
      std::perror("ns_last_pid");
      return 1;
    }
    pid_t beta = child("beta", 12);
    if (beta < 0 || waitpid(beta, nullptr, 0) != beta) return 1;
    if (beta == alpha) {
      std::printf("{\"pid\":%d,\"reused\":true}\n", static_cast<int>(alpha));
      return 0;
    }
  }
  std::printf("{\"pid\":0,\"reused\":false}\n");
  return 0;
}
