#include "aitrace/core/numa_nodes.hpp"

#include "aitrace/core/parse_number.hpp"

#include <filesystem>
#include <fstream>

namespace aitrace {

std::optional<unsigned> count_node_list(std::string_view list) {
  if (list.ends_with('\n')) list.remove_suffix(1);
  if (list.empty()) return std::nullopt;
  unsigned count = 0;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view range = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (comma != std::string_view::npos && list.empty()) return std::nullopt;  // "0,"
    const size_t dash = range.find('-');
    auto first = parse_number<unsigned>(range.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parse_number<unsigned>(range.substr(dash + 1));
    if (!first || !last || *last < *first) return std::nullopt;
    count += *last - *first + 1;
  }
  return count;
}

std::optional<unsigned> possible_numa_nodes(const std::string& sys_root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path system = fs::path(sys_root) / "devices/system";
  if (!fs::exists(system / "node", ec)) {
    // CONFIG_NUMA=n: sysfs has CPUs and no node directory. A sysfs without either says nothing.
    if (fs::exists(system / "cpu", ec)) return 1;
    return std::nullopt;
  }
  std::ifstream in(system / "node/possible");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return count_node_list(line);
}

}  // namespace aitrace
