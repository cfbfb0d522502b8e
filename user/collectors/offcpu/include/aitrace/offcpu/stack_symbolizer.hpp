// Addresses of off-CPU stacks to function names, with BCC's symbolizer (libbpfcc-dev's
// bcc_syms.h, linked statically from libbcc-loader-static.a: ELF symbol tables, debuginfo by
// build-id and debuglink, /tmp/perf-PID.map for JITs, other mount namespaces through
// /proc/PID/root; it needs libelf and libbpf, not LLVM).
//
// One cache per process, made when its first stack is resolved: a process that exits later keeps
// the names of the stacks resolved before (OffcpuCollector resolves each new stack when the
// kernel first reports it, and keeps the names).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace aitrace {

// A demangled C++ name without its parameter list ("ns::f(int, char const*) const" -> "ns::f"):
// flame graphs and folded stacks name functions, and overloads rarely matter off-CPU.
std::string without_parameters(std::string name);

class StackSymbolizer {
 public:
  StackSymbolizer();
  ~StackSymbolizer();
  StackSymbolizer(const StackSymbolizer&) = delete;
  StackSymbolizer& operator=(const StackSymbolizer&) = delete;

  // Reads /proc/kallsyms (once; kernel_frame() does it when not done before).
  void load_kernel();
  // "pipe_read"; "[unknown] 0xffffffff81234567" when kallsyms does not name it.
  std::string kernel_frame(uint64_t addr);
  // "wait_here" (demangled, without parameters); "[unknown] (/usr/bin/x+0x1234)" when the module is known but the
  // symbol is not (stripped binary), "[unknown] 0x7f..." when not even the module is.
  std::string user_frame(uint32_t tgid, uint64_t addr);
  // Drops the caches of processes that have exited (their pids may be reused).
  void forget_exited();

 private:
  struct ProcessCache;
  void* kernel_ = nullptr;  // bcc_symcache_new(-1): /proc/kallsyms
  bool kernel_tried_ = false;
  std::map<uint32_t, std::unique_ptr<ProcessCache>> processes_;
};

}  // namespace aitrace
