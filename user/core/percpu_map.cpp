#include "aitrace/core/percpu_map.hpp"

#include <bpf/libbpf.h>

namespace aitrace {

Result<size_t> possible_cpu_count() {
  const int n = libbpf_num_possible_cpus();
  if (n <= 0) return make_error(ErrorKind::runtime, "counting the possible CPUs failed: {}", bpf_error_text(n));
  return static_cast<size_t>(n);
}

}  // namespace aitrace
