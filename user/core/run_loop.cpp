#include "aitrace/core/run_loop.hpp"

#include "aitrace/core/ring_reader.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aitrace {
namespace {

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // a closed terminal or a lost ssh session: stop and report, as SIGTERM
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

bool stop_signal_pending() {
  sigset_t pending, stop = stop_signal_set();
  if (sigpending(&pending) != 0) return false;
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    if (sigismember(&stop, sig) && sigismember(&pending, sig)) return true;
  return false;
}

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

  std::vector<clock::time_point> periodic_due;
  periodic_due.reserve(periodic_.size());
  for (const Periodic& p : periodic_) periodic_due.push_back(start + p.every);

  for (;;) {
    auto now = clock::now();
    // A tick that fell due before the end is still delivered, even when this process was
    // descheduled past both: interval reports never go missing on a loaded host.
    const bool tick_due = ticking && now >= next_tick && (!bounded || next_tick < end);
    if (!tick_due && bounded && now >= end) break;
    // Poll on every iteration, with no wait when a tick is due, so that ticks slower than the
    // interval (a big map walk with -i 1ms) cannot starve signals, stop fds and rings.
    // Otherwise wake at least every 100 ms so rings are drained in batches even when epoll
    // stays quiet.
    auto wake = now + std::chrono::milliseconds(100);
    if (bounded && end < wake) wake = end;
    if (ticking && next_tick < wake) wake = next_tick;
    for (auto due : periodic_due) wake = std::min(wake, due);
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    int timeout_ms = tick_due || wait_ms < 0 ? 0 : static_cast<int>(wait_ms);
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) return make_error(ErrorKind::runtime, "poll: {}", std::strerror(errno));
    if (n > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info;  // consume it, or it stays pending for the next loop
      (void)!read(sigfd.get(), &info, sizeof(info));
      reason = StopReason::signal;
      break;
    }
    bool stop = false;
    if (n > 0)
      for (size_t i = 1; i < ring_base; i++) stop |= (fds[i].revents & (POLLIN | POLLHUP)) != 0;
    for (RingReader* r : rings_) AITRACE_TRY(r->drain());
    const auto drained = clock::now();
    for (size_t i = 0; i < periodic_.size(); i++) {
      if (drained < periodic_due[i]) continue;
      AITRACE_TRY(periodic_[i].fn());
      periodic_due[i] = drained + periodic_[i].every;
    }
    if (stop) {
      reason = StopReason::stop_fd;
      break;
    }
    if (tick_due) {
      AITRACE_TRY(on_tick(false));
      // Coalesce: ticks that fell due while this one ran fold into the next one on the grid,
      // whose report then covers the longer interval (deltas are of cumulative counters).
      const auto after = clock::now();
      next_tick += *opts_.interval;
      if (next_tick <= after) next_tick += (after - next_tick) / *opts_.interval * *opts_.interval + *opts_.interval;
    }
  }
  for (RingReader* r : rings_) AITRACE_TRY(r->drain());
  AITRACE_TRY(on_tick(true));
  return reason;
}

}  // namespace aitrace
