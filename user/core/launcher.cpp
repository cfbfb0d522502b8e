#include "aitrace/core/launcher.hpp"

#include "aitrace/core/run_loop.hpp"
#include "aitrace/core/targets.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <sstream>

namespace aitrace {
namespace {

// execvp's lookup, done before forking so a missing command is a clean usage error.
bool find_executable(const std::string& cmd) {
  auto executable = [](const std::string& p) {
    struct stat st{};
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (cmd.find('/') != std::string::npos) return executable(cmd);
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (executable((dir.empty() ? "." : dir) + "/" + cmd)) return true;
  return false;
}

// What the held child reports on its error pipe: once after dropping its privileges (err 0 when
// that worked), and once more if exec fails.
struct ChildReport {
  int err = 0;
  char step[40] = {};  // what failed: "exec", or the privilege step
};

void send_report(int fd, int err, const char* step) {
  ChildReport r;
  r.err = err;
  std::strncpy(r.step, step, sizeof(r.step) - 1);
  (void)!write(fd, &r, sizeof(r));
}

// One report; false at EOF (exec succeeded, or the child is gone).
bool read_report(int fd, ChildReport& r) {
  ssize_t n;
  while ((n = read(fd, &r, sizeof(r))) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(sizeof(r));
}

// True while any process of the group still exists (zombies included until reaped).
bool group_alive(pid_t pgid) { return kill(-pgid, 0) == 0 || errno == EPERM; }

// SIGTERM to the whole group, SIGKILL to what is left after the grace period.
void stop_group(pid_t pgid, std::chrono::milliseconds grace) {
  if (kill(-pgid, SIGTERM) != 0) return;
  const auto until = std::chrono::steady_clock::now() + grace;
  while (group_alive(pgid) && std::chrono::steady_clock::now() < until) usleep(10'000);
  kill(-pgid, SIGKILL);
}

// The guard of CMD's process group when aitrace dies: PR_SET_PDEATHSIG reaches only CMD itself,
// never the workers it started (`sh -c 'a & b'`, torchrun). This small process, outside the
// group and holding nothing but its end of a pipe, waits for EOF on it. A byte first means
// aitrace has already stopped the group; EOF alone means aitrace died: stop the group here.
pid_t fork_group_guard(pid_t pgid, int& guard_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    // Nothing but SIGKILL may end it early: the terminal's SIGINT/SIGHUP reach aitrace's group.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    // Nothing of aitrace's: BPF fds kept here would keep programs attached after aitrace, and
    // its stdout would not reach EOF for whoever reads it.
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0)
      for (int fd = 0; fd < 3; fd++)
        if (fd != p[0]) dup2(null_fd, fd);
    if (dup2(p[0], 3) < 0) _exit(1);
    close_range(4, ~0U, 0);
    char c;
    ssize_t n;
    while ((n = read(3, &c, 1)) < 0 && errno == EINTR) {
    }
    if (n == 0) stop_group(pgid, LaunchedCommand::kTerminateGrace);
    _exit(0);
  }
  close(p[0]);
  guard_fd = p[1];
  return pid;
}

}  // namespace

Result<LaunchedCommand> LaunchedCommand::prepare(const std::vector<std::string>& argv, const CommandCredentials& creds,
                                                 bool stdout_to_stderr) {
  if (argv.empty()) return make_error(ErrorKind::usage, "no command given after --");
  if (!find_executable(argv[0])) return make_error(ErrorKind::usage, "command not found or not executable: {}", argv[0]);
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    return make_error(ErrorKind::runtime, "pipe: {}", std::strerror(errno));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return make_error(ErrorKind::runtime, "fork: {}", std::strerror(errno));
  if (pid == 0) {
    close(go[1]);
    close(err[0]);
    // CMD's own process group: the stop policy signals the group, so the workers CMD starts
    // stop with it. (Set on both sides of fork, so it holds whichever runs first.)
    setpgid(0, 0);
    const char* step = "";
    const int dropped = drop_command_privileges(creds, &step);
    send_report(err[1], dropped, step);
    if (dropped != 0) _exit(127);
    // aitrace stops CMD with SIGTERM when it ends; when aitrace itself dies (SIGKILL, OOM) CMD
    // gets the same SIGTERM rather than running on untraced. Kept across exec, except for setuid;
    // set after the privileges drop, since a change of uid clears it.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(127);
    char c;
    // EOF without a byte means aitrace gave up before attaching: do not run the command.
    if (read(go[0], &c, 1) != 1) _exit(127);
    unblock_stop_signals();
    // aitrace ignores SIGPIPE (a closed stdout ends that output, not the run); an ignored
    // signal stays ignored across exec, and CMD must see a broken pipe as every program does.
    signal(SIGPIPE, SIG_DFL);
    // A JSON report on stdout must stay one parseable document: CMD writes to stderr instead.
    if (stdout_to_stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) _exit(127);
    execvp(args[0], args.data());
    send_report(err[1], errno, "exec");
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  setpgid(pid, pid);
  ChildReport dropped;
  if (!read_report(err[0], dropped) || dropped.err != 0) {
    close(go[1]);
    close(err[0]);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (dropped.err == 0) return make_error(ErrorKind::runtime, "{} exited before it could be started", argv[0]);
    return make_error(dropped.err == EPERM ? ErrorKind::privilege : ErrorKind::runtime,
                      "cannot start {} as {}: {} failed: {}", argv[0], creds.who, dropped.step,
                      std::strerror(dropped.err));
  }
  LaunchedCommand lc;
  lc.pid_ = pid;
  lc.guard_pid_ = fork_group_guard(pid, lc.guard_fd_);
  if (lc.guard_pid_ < 0) return make_error(ErrorKind::runtime, "fork: {}", std::strerror(errno));
  lc.go_fd_ = go[1];
  lc.err_fd_ = err[0];
  lc.name_ = argv[0];
  lc.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (lc.pidfd_ < 0) return make_error(ErrorKind::unsupported, "pidfd_open: {}", std::strerror(errno));
  return lc;
}

LaunchedCommand::LaunchedCommand(LaunchedCommand&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      go_fd_(std::exchange(o.go_fd_, -1)),
      err_fd_(std::exchange(o.err_fd_, -1)),
      started_(o.started_),
      terminating_(o.terminating_),
      reaped_(std::exchange(o.reaped_, true)),
      guard_pid_(std::exchange(o.guard_pid_, -1)),
      guard_fd_(std::exchange(o.guard_fd_, -1)),
      status_(o.status_),
      name_(std::move(o.name_)) {}

LaunchedCommand::~LaunchedCommand() {
  if (go_fd_ >= 0) close(go_fd_);  // an unstarted child sees EOF and exits 127
  if (pid_ > 0 && !reaped_) {
    // An error ended the run while CMD runs: SIGTERM with the same grace and SIGKILL as wait(),
    // so a command that ignores SIGTERM cannot keep aitrace from exiting with its error.
    if (started_) {
      terminate();
      wait();
    } else {
      waitpid(pid_, nullptr, 0);
    }
  }
  if (pid_ > 0) stop_group(pid_, kTerminateGrace);  // what is left of CMD's tree
  if (guard_fd_ >= 0) {
    char done = 1;  // the group is stopped: the guard exits without signalling anything
    (void)!write(guard_fd_, &done, 1);
    close(guard_fd_);
  }
  if (guard_pid_ > 0) {
    while (waitpid(guard_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0) close(pidfd_);
  if (err_fd_ >= 0) close(err_fd_);
}

Status LaunchedCommand::start() {
  char go = 1;
  if (write(go_fd_, &go, 1) != 1) return make_error(ErrorKind::runtime, "cannot start {}: {}", name_, std::strerror(errno));
  close(go_fd_);
  go_fd_ = -1;
  started_ = true;
  ChildReport r;
  if (read_report(err_fd_, r)) {  // EOF once exec succeeded
    wait();
    return make_error(ErrorKind::usage, "cannot run {}: {}", name_, std::strerror(r.err));
  }
  return {};
}

int LaunchedCommand::wait() {
  if (!reaped_ && terminating_) {
    // A command that ignores SIGTERM must not keep aitrace (whose own stop signals are blocked
    // here) waiting forever: give it a grace period, then SIGKILL. poll() returns EINTR when a
    // handled signal arrives; the wait goes on for what is left of the grace period.
    const auto until = std::chrono::steady_clock::now() + kTerminateGrace;
    bool exited = false;
    while (pidfd_ >= 0 && !exited) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{pidfd_, POLLIN, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (n > 0) exited = true;
      else if (n == 0 || errno != EINTR) break;
    }
    if (!exited) kill(-pid_, SIGKILL);
  }
  if (!reaped_) {
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    // CMD is gone; workers it left in its group (`sh -c 'a & b'` after -d) are not traced any
    // more and must not outlive the run.
    if (group_alive(pid_)) stop_group(pid_, kTerminateGrace);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return 1;
}

void LaunchedCommand::terminate() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGTERM);  // CMD's whole process group
    terminating_ = true;
  }
}

Result<std::optional<LaunchedCommand>> launch_traced_command(const std::vector<std::string>& argv,
                                                             const CommandCredentials& creds,
                                                             ResolvedTargets& targets, bool follow,
                                                             bool stdout_to_stderr) {
  if (argv.empty()) return std::optional<LaunchedCommand>{};
  auto lc = LaunchedCommand::prepare(argv, creds, stdout_to_stderr);
  if (!lc) return lc.error();
  if (follow) add_launched_process(targets, static_cast<uint32_t>(lc->pid()));
  return std::optional<LaunchedCommand>(std::move(*lc));
}

}  // namespace aitrace
