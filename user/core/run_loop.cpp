#include "aitrace/core/run_loop.hpp"

#include "aitrace/core/ring_reader.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aitrace {
namespace {

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) close(fd_); }
  int get() const { return fd_; }
 private:
  int fd_;
};

}  // namespace

void block_stop_signals() {
  sigset_t set = stop_signal_set();
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

void unblock_stop_signals() {
  sigset_t set = stop_signal_set();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

Result<StopReason> RunLoop::run(const std::function<Status(bool final)>& on_tick) {
  using clock = std::chrono::steady_clock;
  sigset_t set = stop_signal_set();
  Fd sigfd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (sigfd.get() < 0) return make_error(ErrorKind::runtime, "signalfd: {}", std::strerror(errno));

  const auto start = clock::now();
  // Plain time points with flags: GCC 12 misreports optional<time_point> as uninitialized.
  const bool ticking = opts_.interval.has_value(), bounded = opts_.duration.has_value();
  auto next_tick = start + opts_.interval.value_or(std::chrono::nanoseconds(0));
  const auto end = start + opts_.duration.value_or(std::chrono::nanoseconds(0));
  StopReason reason = StopReason::duration;

  std::vector<pollfd> fds;
  fds.push_back({sigfd.get(), POLLIN, 0});
  for (int fd : stop_fds_) fds.push_back({fd, POLLIN, 0});
  const size_t ring_base = fds.size();
  for (RingReader* r : rings_) fds.push_back({r->epoll_fd(), POLLIN, 0});

  for (;;) {
    auto now = clock::now();
    // A tick that fell due before the end is still delivered, even when this process was
    // descheduled past both: interval reports never go missing on a loaded host.
    if (ticking && now >= next_tick && (!bounded || next_tick < end)) {
      AITRACE_TRY(on_tick(false));
      next_tick += *opts_.interval;
      continue;
    }
    if (bounded && now >= end) break;
    // Wake at least every 100 ms so rings are drained in batches even when epoll stays quiet.
    auto wake = now + std::chrono::milliseconds(100);
    if (bounded && end < wake) wake = end;
    if (ticking && next_tick < wake) wake = next_tick;
    int timeout_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) return make_error(ErrorKind::runtime, "poll: {}", std::strerror(errno));
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;  // consume it, or it stays pending for the next loop
      (void)!read(sigfd.get(), &info, sizeof(info));
      reason = StopReason::signal;
      break;
    }
    bool stop = false;
    for (size_t i = 1; i < ring_base; i++) stop |= (fds[i].revents & (POLLIN | POLLHUP)) != 0;
    for (RingReader* r : rings_) AITRACE_TRY(r->drain());
    if (stop) {
      reason = StopReason::stop_fd;
      break;
    }
  }
  for (RingReader* r : rings_) AITRACE_TRY(r->drain());
  AITRACE_TRY(on_tick(true));
  return reason;
}

}  // namespace aitrace
