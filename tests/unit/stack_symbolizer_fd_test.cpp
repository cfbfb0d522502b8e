// BCC 0.26 (Debian bookworm's libbpfcc-dev) closes a file descriptor it never opened: its
// ProcSyms::ModulePath leaves fd_ unset for the modules it does not open through the process's
// root (the global /tmp/perf-PID.map that every symbol cache tries, memfd mappings), and its
// destructor closes whatever number the heap held there (fixed upstream in bcc 68710c4f, v0.33).
// In `aitrace capture`, that closed a sched map's fd mid-run ("reading a sched map: Bad file
// descriptor"). The test leaves the numbers of descriptors it owns in freed heap blocks of the
// sizes BCC allocates, builds symbol caches, and checks that every descriptor is still open.
#include "aitrace/offcpu/stack_symbolizer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace aitrace {
namespace {

// Freed blocks of 32..256 bytes whose every int is one of `fds`: malloc hands them out again for
// the next allocations of those sizes, uncleared past their first 16 bytes.
void leave_fd_numbers_in_freed_blocks(const std::vector<int>& fds) {
  std::vector<void*> blocks;
  for (size_t size = 32; size <= 256; size += 8) {
    for (int copy = 0; copy < 8; copy++) {
      auto* p = static_cast<int*>(std::malloc(size));
      ASSERT_NE(p, nullptr);
      for (size_t i = 0; i < size / sizeof(int); i++) p[i] = fds[(i + static_cast<size_t>(copy)) % fds.size()];
      blocks.push_back(p);
    }
  }
  for (void* p : blocks) std::free(p);
}

TEST(StackSymbolizer, BccNeverClosesADescriptorItDidNotOpen) {
  std::vector<int> fds;
  for (int i = 0; i < 32; i++) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  const auto addr = reinterpret_cast<uint64_t>(&leave_fd_numbers_in_freed_blocks);
  for (int round = 0; round < 20; round++) {
    leave_fd_numbers_in_freed_blocks(fds);
    StackSymbolizer sym;
    // A cache for this process (its global /tmp/perf-PID.map is tried), and one refresh: an
    // address no module holds makes the symbolizer re-read the maps once.
    EXPECT_EQ(sym.user_frame(static_cast<uint32_t>(getpid()), addr), "aitrace::(anonymous namespace)::leave_fd_numbers_in_freed_blocks");
    sym.user_frame(static_cast<uint32_t>(getpid()), 8);
    leave_fd_numbers_in_freed_blocks(fds);
  }
  for (int fd : fds) {
    EXPECT_NE(fcntl(fd, F_GETFD), -1) << "fd " << fd << " was closed behind its owner's back";
    close(fd);
  }
}

}  // namespace
}  // namespace aitrace
