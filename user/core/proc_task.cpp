#include "aitrace/core/proc_task.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace aitrace {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Field 22 of /proc/.../stat (starttime); the comm in field 2 may hold spaces and parentheses,
// so fields are counted after its last ')'.
std::optional<uint64_t> stat_start_ticks(const std::string& stat) {
  size_t at = stat.rfind(')');
  if (at == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(at + 1));
  std::string field;
  for (int i = 3; i <= 22; i++)
    if (!(in >> field)) return std::nullopt;
  try {
    return std::stoull(field);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

uint64_t boottime_ns_to_ticks(uint64_t ns) {
  static const long hz = sysconf(_SC_CLK_TCK);
  const uint64_t ns_per_tick = hz > 0 ? 1000000000ull / static_cast<uint64_t>(hz) : 10000000ull;
  return ns / ns_per_tick;
}

std::optional<std::vector<std::string>> task_cmdline(uint32_t tgid, uint32_t tid, uint64_t start_boottime_ns) {
  const std::string dir = "/proc/" + std::to_string(tgid);
  auto start = stat_start_ticks(read_all(dir + "/task/" + std::to_string(tid) + "/stat"));
  if (!start || *start != boottime_ns_to_ticks(start_boottime_ns)) return std::nullopt;
  const std::string raw = read_all(dir + "/cmdline");
  // Read after the check: had the pid been reused in between, the new task's start would differ,
  // so check once more that the thread is still there and the same.
  auto again = stat_start_ticks(read_all(dir + "/task/" + std::to_string(tid) + "/stat"));
  if (!again || *again != *start || raw.empty()) return std::nullopt;
  std::vector<std::string> argv;
  size_t from = 0;
  while (from < raw.size()) {
    size_t nul = raw.find('\0', from);
    if (nul == std::string::npos) nul = raw.size();
    argv.push_back(raw.substr(from, nul - from));
    from = nul + 1;
  }
  return argv;
}

}  // namespace aitrace
