#include "aitrace/offcpu/stack_symbolizer.hpp"

#include "bcc_heap.hpp"

#include <bcc/bcc_syms.h>
#include <elf.h>
#include <signal.h>

#include <cerrno>
#include <fmt/format.h>

namespace aitrace {

namespace {

bcc_symbol_option user_options() {
  bcc_symbol_option o{};
  o.use_debug_file = 1;
  o.check_debug_file_crc = 1;
  // Eager: lazy symbolization reopens the module's file by name at each lookup, which fails
  // once the process (and its /proc/PID/root view) is gone.
  o.lazy_symbolize = 0;
  o.use_symbol_type = (1U << STT_FUNC) | (1U << STT_GNU_IFUNC);
  return o;
}

}  // namespace

std::string without_parameters(std::string name) {
  // The final top-level "(...)" and what follows it (" const", " &&"): cut at its '('.
  const size_t close = name.rfind(')');
  if (close == std::string::npos) return name;
  const std::string_view tail = std::string_view(name).substr(close + 1);
  if (!tail.empty() && tail != " const" && tail != " volatile" && tail != " &" && tail != " &&" &&
      tail != " const&" && tail != " const&&")
    return name;
  int depth = 0;
  for (size_t i = close + 1; i-- > 0;) {
    if (name[i] == ')') depth++;
    if (name[i] == '(' && --depth == 0) {
      if (i == 0) return name;
      name.resize(i);
      return name;
    }
  }
  return name;
}

struct StackSymbolizer::ProcessCache {
  explicit ProcessCache(uint32_t tgid) : pid(static_cast<int>(tgid)) {
    bcc_symbol_option o = user_options();
    const ZeroedAllocationsScope zeroed;  // bcc_heap.hpp: BCC 0.26 closes an unset fd otherwise
    cache = bcc_symcache_new(pid, &o);
  }
  ~ProcessCache() {
    if (cache) bcc_free_symcache(cache, pid);
  }
  ProcessCache(const ProcessCache&) = delete;
  ProcessCache& operator=(const ProcessCache&) = delete;
  int pid;
  void* cache = nullptr;
  // A library loaded after the cache read /proc/PID/maps (dlopen) is found by one re-read.
  bool refreshed = false;
};

StackSymbolizer::StackSymbolizer() = default;

StackSymbolizer::~StackSymbolizer() {
  processes_.clear();
  if (kernel_) bcc_free_symcache(kernel_, -1);
}

void StackSymbolizer::load_kernel() {
  if (kernel_tried_) return;
  kernel_tried_ = true;
  kernel_ = bcc_symcache_new(-1, nullptr);
  // BCC's kernel cache reads kallsyms at its first lookup, not when made.
  bcc_symbol sym{};
  if (kernel_) bcc_symcache_resolve_no_demangle(kernel_, 0, &sym);
}

std::string StackSymbolizer::kernel_frame(uint64_t addr) {
  load_kernel();
  bcc_symbol sym{};
  if (kernel_ && bcc_symcache_resolve_no_demangle(kernel_, addr, &sym) == 0 && sym.name) return sym.name;
  return fmt::format("[unknown] {:#x}", addr);
}

std::string StackSymbolizer::user_frame(uint32_t tgid, uint64_t addr) {
  auto& proc = processes_[tgid];
  if (!proc) proc = std::make_unique<ProcessCache>(tgid);
  bcc_symbol sym{};
  std::string name;
  if (proc->cache) {
    int rc = bcc_symcache_resolve(proc->cache, addr, &sym);
    if (rc != 0 && !sym.module && !proc->refreshed) {
      proc->refreshed = true;
      {
        const ZeroedAllocationsScope zeroed;  // the refresh makes new ModulePaths (bcc_heap.hpp)
        bcc_symcache_refresh(proc->cache);
      }
      sym = {};
      rc = bcc_symcache_resolve(proc->cache, addr, &sym);
    }
    if (rc == 0 && (sym.demangle_name || sym.name))
      name = sym.demangle_name ? without_parameters(sym.demangle_name) : sym.name;
    else if (sym.module && *sym.module)
      name = fmt::format("[unknown] ({}+{:#x})", sym.module, sym.offset);
    if (rc == 0) bcc_symbol_free_demangle_name(&sym);
  }
  if (name.empty()) name = fmt::format("[unknown] {:#x}", addr);
  return name;
}

void StackSymbolizer::forget_exited() {
  std::erase_if(processes_, [](const auto& p) { return kill(static_cast<pid_t>(p.first), 0) != 0 && errno == ESRCH; });
}

}  // namespace aitrace
