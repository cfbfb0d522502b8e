#include "aitrace/core/process_exits.hpp"

#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace aitrace {

Result<ProcessExits> ProcessExits::watch(const std::vector<uint32_t>& pids) {
  ProcessExits w;
  for (uint32_t pid : pids) {
    int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
    // Gone (and reaped) since the targets were checked: an eventfd holding 1 polls readable.
    if (fd < 0 && errno == ESRCH) fd = eventfd(1, EFD_CLOEXEC);
    if (fd < 0) return make_error(ErrorKind::unsupported, "pidfd_open({}): {}", pid, std::strerror(errno));
    w.fds_.push_back(fd);
  }
  return w;
}

ProcessExits::ProcessExits(ProcessExits&& o) noexcept : fds_(std::exchange(o.fds_, {})) {}

ProcessExits::~ProcessExits() {
  for (int fd : fds_) close(fd);
}

}  // namespace aitrace
