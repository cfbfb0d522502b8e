#include "aitrace/dma/fence_symbols.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace aitrace {

void FenceSymbols::resolve(const std::vector<std::pair<uint64_t, uint64_t>>& wanted) {
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  for (const auto& w : wanted)
    if (!drivers_.count(w)) missing.push_back(w);
  if (missing.empty()) return;
  // Exact addresses only: a fence's ops pointer is the address of a `struct dma_fence_ops`
  // object (a data symbol when CONFIG_KALLSYMS_ALL=y, else not listed), and
  // ops->get_driver_name a function (always listed).
  std::unordered_map<uint64_t, std::string> wanted_addrs;
  for (const auto& [ops, fn] : missing) {
    if (ops) wanted_addrs.emplace(ops, "");
    if (fn) wanted_addrs.emplace(fn, "");
  }
  reads_++;
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string addr, type, name, module;
    ls >> addr >> type >> name >> module;
    uint64_t a = std::strtoull(addr.c_str(), nullptr, 16);
    auto it = a ? wanted_addrs.find(a) : wanted_addrs.end();
    if (it == wanted_addrs.end() || !it->second.empty()) continue;
    if (!module.empty()) name.append(" ").append(module);  // "amdgpu_fence_ops [amdgpu]"
    it->second = std::move(name);
  }
  // Misses are remembered too ("?"): an address kallsyms does not list stays unlisted.
  for (const auto& p : missing) {
    const std::string& by_ops = wanted_addrs[p.first];
    const std::string& by_fn = wanted_addrs[p.second];
    drivers_[p] = !by_ops.empty() ? by_ops : !by_fn.empty() ? by_fn : "?";
  }
}

std::string FenceSymbols::driver(uint64_t ops, uint64_t get_driver_name) {
  auto key = std::make_pair(ops, get_driver_name);
  if (!drivers_.count(key)) resolve({key});
  return drivers_.at(key);
}

}  // namespace aitrace
