// `aitrace <collector> -- CMD ARGS`: the child is forked first and held on a pipe until every
// hook is attached, so no event of it is missed; its pidfd stops the run loop when it exits.
#pragma once

#include "aitrace/result.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace aitrace {

class LaunchedCommand {
 public:
  // Forks CMD, held before exec. Fails early (one line) when CMD is not found or not executable.
  static Result<LaunchedCommand> prepare(const std::vector<std::string>& argv);
  LaunchedCommand(LaunchedCommand&& o) noexcept;
  LaunchedCommand(const LaunchedCommand&) = delete;
  ~LaunchedCommand();  // a never-started child is killed and reaped

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  // Lets the child exec; reports an exec failure as an error.
  Status start();
  // Waits for the child and returns its exit code (128+signal when killed by a signal).
  int wait();
  // Forwards SIGINT/SIGTERM to the child (used when aitrace itself is interrupted).
  void terminate();

 private:
  LaunchedCommand() = default;
  pid_t pid_ = -1;
  int pidfd_ = -1, go_fd_ = -1, err_fd_ = -1;
  bool started_ = false, reaped_ = false;
  int status_ = 0;
  std::string name_;
};

}  // namespace aitrace
