// A scope around calls into BCC's symbolizer in which new memory starts zeroed.
//
// Why: BCC 0.26 (Debian bookworm's libbpfcc-dev) leaves ProcSyms::ModulePath::fd_ unset for the
// modules it does not open through the process's root (the global /tmp/perf-PID.map that every
// process cache tries, memfd mappings), and its destructor closes fd_ when it is > 0. Unset, fd_
// is whatever the heap held, often a live descriptor of this process: a sched map's fd closed
// mid-capture. Upstream fixed it in bcc 68710c4f (v0.33). In this scope the ModulePath block is
// allocated zeroed, so fd_ is 0 and nothing is closed. tests/unit/stack_symbolizer_fd_test.cpp
// fails without it.
#pragma once

namespace aitrace {

class ZeroedAllocationsScope {
 public:
  ZeroedAllocationsScope();
  ~ZeroedAllocationsScope();
  ZeroedAllocationsScope(const ZeroedAllocationsScope&) = delete;
  ZeroedAllocationsScope& operator=(const ZeroedAllocationsScope&) = delete;
};

}  // namespace aitrace
