// `aitrace <collector> -- CMD ARGS`: the child is forked first and held on a pipe until every
// hook is attached, so no event of it is missed; its pidfd stops the run loop when it exits.
// CMD runs in its own process group, and the stop policy covers the group: whatever CMD started
// stops with it, also when aitrace dies (a guard process outside the group sees to that).
// CMD is not the terminal's foreground group: it reads no terminal input (SIGTTIN).
#pragma once

#include "aitrace/core/command_credentials.hpp"
#include "aitrace/core/result.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace aitrace {

class LaunchedCommand {
 public:
  // Forks CMD, held before exec, already running with `creds` (command_credentials.hpp). Fails
  // early (one line) when CMD is not found or not executable, or the privileges cannot be dropped.
  // stdout_to_stderr: CMD's stdout is aitrace's stderr (the report owns stdout, as JSON).
  static Result<LaunchedCommand> prepare(const std::vector<std::string>& argv, const CommandCredentials& creds,
                                         bool stdout_to_stderr = false);
  LaunchedCommand(LaunchedCommand&& o) noexcept;
  LaunchedCommand(const LaunchedCommand&) = delete;
  ~LaunchedCommand();  // a never-started child is killed and reaped

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  // Lets the child exec; reports an exec failure as an error.
  Status start();
  // Waits for the child and returns its exit code (128+signal when killed by a signal). After
  // terminate(), a group still alive kTerminateGrace later is killed with SIGKILL. Processes
  // left in CMD's group once CMD is gone get the same SIGTERM, grace and SIGKILL.
  int wait();
  // Asks CMD's process group to stop with SIGTERM (the trace ended before CMD: -d elapsed, or
  // Ctrl-C).
  void terminate();
  static constexpr std::chrono::milliseconds kTerminateGrace{2000};

 private:
  LaunchedCommand() = default;
  pid_t pid_ = -1;
  int pidfd_ = -1, go_fd_ = -1, err_fd_ = -1;
  bool started_ = false, terminating_ = false, reaped_ = false;
  pid_t guard_pid_ = -1;
  int guard_fd_ = -1;
  int status_ = 0;
  std::string name_;
};

struct ResolvedTargets;

// `-- CMD` for a tracing command: nothing when argv is empty; otherwise CMD forked and held, and
// (with follow) its pid added to the filter so it and everything it forks is traced.
Result<std::optional<LaunchedCommand>> launch_traced_command(const std::vector<std::string>& argv,
                                                             const CommandCredentials& creds,
                                                             ResolvedTargets& targets, bool follow = true,
                                                             bool stdout_to_stderr = false);

}  // namespace aitrace
