// Blocks in a known call chain, main -> outer -> wait_here, and prints how long it was blocked
// there by its own clock, for aitrace offcpu's tests (built with frame pointers: tests/CMakeLists.txt).
//   offcpu_chain pipe MS        wait_here reads a pipe that a second thread ("offcpu_writer")
//                               writes one byte every 5 ms, until MS have passed (S state)
//   offcpu_chain vfork MS       wait_here vforks children that sleep 20 ms before they exit,
//                               until MS have passed: the parent waits in D (TASK_KILLABLE)
//   offcpu_chain pipe-child MS  a child process runs `pipe MS` and exits; the parent outlives it
//                               by one second
// Output: "blocked_ns N", the time wait_here spent in its system calls (pipe-child: printed by
// the child before it exits, then "child_exited PID" by the parent).
//
// wait_here makes its system calls itself (inline `syscall`) instead of through libc: glibc is
// built without frame pointers, and a frame-pointer unwinder that starts inside libc's read()
// skips read()'s caller: wait_here would be missing (docs/offcpu.md, "Frame pointers").
#include "workload_args.hpp"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

long raw_read(int fd, void* buf, unsigned long n) {
  long ret = SYS_read;
  asm volatile("syscall" : "+a"(ret) : "D"(fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
  return ret;
}

// vfork whose child sleeps `ts` and exits without returning from this asm: the child runs on the
// parent's stack, so it must not touch it.
long raw_vfork_sleep_exit(const timespec* ts) {
  long ret = SYS_vfork;
  asm volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "mov %[nanosleep], %%eax\n\t"
      "xor %%esi, %%esi\n\t"
      "syscall\n\t"
      "mov %[exit], %%eax\n\t"
      "xor %%edi, %%edi\n\t"
      "syscall\n\t"
      "1:"
      : "+a"(ret)
      : "D"(ts), [nanosleep] "i"(SYS_nanosleep), [exit] "i"(SYS_exit)
      : "rcx", "r11", "rsi", "memory");
  return ret;
}

__attribute__((noinline)) long long wait_here(const std::string& mode, int fd, Clock::time_point until) {
  long long blocked = 0;
  const timespec child_sleep{0, 20'000'000};
  while (Clock::now() < until) {
    const auto t0 = Clock::now();
    char c;
    const long r = mode == "vfork" ? raw_vfork_sleep_exit(&child_sleep) : raw_read(fd, &c, 1);
    blocked += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    if (r <= 0) break;
    if (mode == "vfork") waitpid(static_cast<pid_t>(r), nullptr, 0);  // a short S wait, not measured
  }
  asm volatile("" ::: "memory");  // no tail call: wait_here stays on the stack
  return blocked;
}

__attribute__((noinline)) long long outer(const std::string& mode, int fd, Clock::time_point until) {
  long long blocked = wait_here(mode, fd, until);
  asm volatile("" ::: "memory");
  return blocked;
}

int run(const std::string& mode, int ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  int p[2] = {-1, -1};
  std::atomic<bool> done{false};
  std::thread writer;
  if (mode == "pipe") {
    if (pipe(p) != 0) return 1;
    writer = std::thread([&] {
      pthread_setname_np(pthread_self(), "offcpu_writer");
      while (!done.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (write(p[1], "x", 1) != 1) break;
      }
    });
  }
  const long long blocked = outer(mode, p[0], until);
  done = true;
  if (writer.joinable()) writer.join();
  std::printf("blocked_ns %lld\n", blocked);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: offcpu_chain pipe|vfork|pipe-child MS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int ms = int_arg(argv[2], "offcpu_chain: MS");
  if (mode == "pipe-child") {
    const pid_t child = fork();
    if (child == 0) _exit(run("pipe", ms));
    int status = 0;
    waitpid(child, &status, 0);
    std::printf("child_exited %d\n", static_cast<int>(child));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  if (mode != "pipe" && mode != "vfork") {
    std::fprintf(stderr, "offcpu_chain: unknown mode %s\n", mode.c_str());
    return 2;
  }
  return run(mode, ms);
}
