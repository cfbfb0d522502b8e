// A thread that is not its process's leader execs: the kernel kills the leader and the other
// threads, and the exec'ing thread takes the leader's pid (and its start time), so a tracer that
// keys threads by tid and start time sees one thread change its id (docs/sched.md, "Threads'
// statistics").
//   exec_thread NAPS AFTER_MS hidden|seen
//     a second thread naps NAPS x 1 ms (under the comm "exec_napper" when `hidden`), writes
//     "tid=N" to stderr, then execs this binary, which sleeps AFTER_MS once, writes "pid=N" and
//     exits 0. The leader waits in join() until the exec kills it.
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "workload_args.hpp"

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--after") == 0) {
    usleep(static_cast<useconds_t>(int_arg(argv[2], "exec_thread: AFTER_MS")) * 1000);
    std::fprintf(stderr, "pid=%d\n", getpid());
    return 0;
  }
  if (argc != 4 || (std::strcmp(argv[3], "hidden") != 0 && std::strcmp(argv[3], "seen") != 0)) {
    std::fprintf(stderr, "usage: %s NAPS AFTER_MS hidden|seen\n", argv[0]);
    return 2;
  }
  const int naps = int_arg(argv[1], "exec_thread: NAPS");
  const std::string after = std::to_string(int_arg(argv[2], "exec_thread: AFTER_MS"));
  const bool hidden = std::strcmp(argv[3], "hidden") == 0;
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::perror("readlink /proc/self/exe");
    return 1;
  }
  self[n] = '\0';
  // `hidden`: the thread starts under the other comm (a thread inherits its creator's), so not
  // even its first switch-in carries this binary's name.
  if (hidden) prctl(PR_SET_NAME, "exec_napper", 0, 0, 0);
  std::thread t([&] {
    for (int i = 0; i < naps; i++) usleep(1000);
    std::fprintf(stderr, "tid=%ld\n", static_cast<long>(syscall(SYS_gettid)));
    // The real path, not /proc/self/exe: the new comm is the file's name.
    execl(self, "exec_thread", "--after", after.c_str(), static_cast<char*>(nullptr));
    std::perror("execl");
    _exit(1);
  });
  if (hidden) prctl(PR_SET_NAME, "exec_thread", 0, 0, 0);
  t.join();  // never returns: the exec kills this thread
  return 1;
}
