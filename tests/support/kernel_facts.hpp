// Ground truth about the running kernel, read from the kernel's own files and never from aitrace,
// for tests that assert the behaviour each kernel must show. The VM matrix (scripts/vmtest) runs
// the same tests on kernels that differ on each of these (6.1: CFS, kprobes, no dma:*; the host:
// EEVDF, no kprobes, dma:*), so both branches of every such assertion run somewhere; a skip list
// per kernel would hide which behaviour a kernel got.
#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace aitrace::test {

inline bool path_exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

inline std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

// EEVDF (6.6+) prints se.slice in /proc/<pid>/sched; CFS does not.
inline bool kernel_is_eevdf() {
  std::ifstream f("/proc/self/sched");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("se.slice", 0) == 0) return true;
  return false;
}

// The kprobe PMU that libbpf attaches kprobes through (CONFIG_KPROBE_EVENTS).
inline bool kernel_has_kprobes() { return path_exists("/sys/bus/event_source/devices/kprobe/type"); }

inline std::string tracefs_dir() {
  for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (path_exists(std::string(d) + "/events")) return d;
  return {};
}

// category/name is listed by tracefs (the kernel's own list of its tracepoints).
inline bool tracefs_lists(const std::string& category, const std::string& name) {
  std::string t = tracefs_dir();
  return !t.empty() && path_exists(t + "/events/" + category + "/" + name);
}

// Any dma:* tracepoint (the dma trace events exist from 6.12).
inline bool kernel_has_dma_tracepoints() {
  std::string t = tracefs_dir();
  return !t.empty() && path_exists(t + "/events/dma");
}

}  // namespace aitrace::test
