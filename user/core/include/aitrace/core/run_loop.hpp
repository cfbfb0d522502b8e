// The one run loop every collector uses: stops on duration, after a number of intervals,
// SIGINT/SIGTERM, a stop fd (e.g. the pidfd of a launched command) or once every fd of a stop
// set is readable (the pidfds of the -p processes); calls the tick callback each interval and
// once at the end; drains ring buffers in between.
#pragma once

#include "aitrace/core/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace aitrace {

class RingReader;

enum class StopReason { duration, signal, stop_fd, error, intervals, stop_set };

struct RunOptions {
  std::optional<std::chrono::nanoseconds> duration;  // none: until a signal or stop fd
  std::optional<std::chrono::nanoseconds> interval;  // none: only the final tick
  std::optional<uint64_t> count;                     // with interval: stop after this many ticks
};

class RunLoop {
 public:
  explicit RunLoop(RunOptions opts) : opts_(opts) {}
  void add_ring(RingReader* ring) { rings_.push_back(ring); }
  void add_stop_fd(int fd) { stop_fds_.push_back(fd); }
  // The run stops once every one of these fds has been readable (each is watched until then).
  void add_stop_set(std::vector<int> fds) { stop_set_ = std::move(fds); }
  // Work that must not run inside a ring consumer (e.g. fdatasync of a trace file, which would
  // stall the rings for as long as the disk takes): called from the loop, after the rings are
  // drained, at most once per `every`.
  void add_periodic(std::chrono::nanoseconds every, std::function<Status()> fn) {
    periodic_.push_back({every, std::move(fn)});
  }
  // on_tick(final): print an interval, or the summary when final is true.
  Result<StopReason> run(const std::function<Status(bool final)>& on_tick);
  // Why the run stopped; set before the final tick, so on_tick(true) can report it.
  StopReason stop_reason() const { return reason_; }

 private:
  RunOptions opts_;
  std::vector<RingReader*> rings_;
  std::vector<int> stop_fds_;
  std::vector<int> stop_set_;
  StopReason reason_ = StopReason::duration;
  struct Periodic {
    std::chrono::nanoseconds every;
    std::function<Status()> fn;
  };
  std::vector<Periodic> periodic_;
};

// Whether SIGINT, SIGTERM or SIGHUP arrived (blocked, not yet taken by a run loop): a command
// checks before it starts CMD, so a Ctrl-C during load or attach never starts it.
bool stop_signal_pending();

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (call early in main, before threads exist) so
// the run loop receives them through a signalfd; returns the previous mask for children.
void block_stop_signals();
void unblock_stop_signals();

}  // namespace aitrace
