// Host facts the migrate report needs: NUMA topology (cpu -> node), the NUMA-balancing and
// demotion switches, GPU/accelerator device nodes.
#include "aitrace/migrate/migrate_report.hpp"
#include "aitrace/core/parse_number.hpp"
#include "aitrace/core/targets.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace aitrace {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return std::nullopt;
  return line;
}

}  // namespace

int MigrateHost::node_of(int cpu) const {
  auto it = cpu_node.find(cpu);
  if (it != cpu_node.end()) return it->second;
  return numa_nodes <= 1 && cpu >= 0 ? 0 : -1;
}

MigrateHost read_migrate_host() {
  MigrateHost h;
  std::error_code ec;
  std::set<int> nodes;
  for (const auto& e : fs::directory_iterator("/sys/devices/system/node", ec)) {
    std::string n = e.path().filename().string();
    if (auto node = parse_number_between<int>(n, "node", "")) {
      nodes.insert(*node);
      std::error_code ec2;
      for (const auto& c : fs::directory_iterator(e.path(), ec2)) {
        // cpu0, cpu1, ... (not cpulist or cpumap)
        if (auto cpu = parse_number_between<int>(c.path().filename().string(), "cpu", "")) h.cpu_node[*cpu] = *node;
      }
    }
  }
  h.numa_nodes = nodes.empty() ? 1 : static_cast<int>(nodes.size());
  if (auto v = read_first_line("/proc/sys/kernel/numa_balancing")) h.numa_balancing = parse_number<int>(*v);
  if (auto v = read_first_line("/sys/kernel/mm/numa/demotion_enabled"))
    h.demotion_enabled = (*v == "true" || *v == "1");
  for (const char* p : {"/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"})
    if (fs::exists(p, ec)) h.gpu_devices.emplace_back(p);
  for (const auto& e : fs::directory_iterator("/dev/accel", ec)) h.gpu_devices.push_back(e.path().string());
  return h;
}

}  // namespace aitrace
