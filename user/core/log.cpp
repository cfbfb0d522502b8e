#include "aitrace/core/log.hpp"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace aitrace {
namespace {

LogLevel g_level = LogLevel::warn;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  // libbpf prints expected failures (e.g. probing a hook the kernel lacks) at WARN level, so
  // all of it is debug output for aitrace; real failures reach the user as aitrace errors.
  (void)level;
  if (g_level < LogLevel::debug) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  std::string line(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  log_line(LogLevel::debug, line);  // libbpf prefixes its own lines
  return n;
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_line(LogLevel level, std::string_view line) {
  const char* prefix = level == LogLevel::error ? "aitrace: " : level == LogLevel::warn ? "aitrace: warning: " : "aitrace: ";
  std::fprintf(stderr, "%s%.*s\n", prefix, static_cast<int>(line.size()), line.data());
}

void route_libbpf_log() { libbpf_set_print(libbpf_print); }

}  // namespace aitrace
