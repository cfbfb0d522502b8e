// `-p PID`: a pidfd per target process, readable once that process has exited, so the run loop
// can end the run when every target is gone (RunLoop::add_stop_set), as `perf -p` does. The
// `-- CMD` path watches CMD's pidfd the same way (launcher.hpp).
#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>
#include <vector>

namespace aitrace {

class ProcessExits {
 public:
  // One fd per pid. A process that exited before it could be opened gets an fd that is already
  // readable: it counts as exited.
  static Result<ProcessExits> watch(const std::vector<uint32_t>& pids);
  ProcessExits(ProcessExits&& o) noexcept;
  ProcessExits(const ProcessExits&) = delete;
  ProcessExits& operator=(const ProcessExits&) = delete;
  ProcessExits& operator=(ProcessExits&&) = delete;
  ~ProcessExits();

  const std::vector<int>& fds() const { return fds_; }

 private:
  ProcessExits() = default;
  std::vector<int> fds_;
};

}  // namespace aitrace
