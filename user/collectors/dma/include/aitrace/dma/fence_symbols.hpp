// dma-fence timelines named by their ops table: kernel addresses resolved through /proc/kallsyms.
// The table (tens of thousands of lines) is read only when a snapshot brings an address not
// resolved before, so a run with -i reads it about once, not on every tick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace aitrace {

class FenceSymbols {
 public:
  explicit FenceSymbols(std::string kallsyms_path = "/proc/kallsyms") : path_(std::move(kallsyms_path)) {}
  // (ops, ops->get_driver_name) pairs of one snapshot: reads the table once if any is new.
  void resolve(const std::vector<std::pair<uint64_t, uint64_t>>& wanted);
  // The ops table's symbol ("amdgpu_fence_ops [amdgpu]"), else its get_driver_name function's,
  // else "?". Resolves the pair first when resolve() did not.
  std::string driver(uint64_t ops, uint64_t get_driver_name);
  size_t table_reads() const { return reads_; }

 private:
  std::string path_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> drivers_;
  size_t reads_ = 0;
};

}  // namespace aitrace
