// Reading one key of a per-CPU BPF map (per-CPU array or hash) from userspace: the kernel fills
// one copy per possible CPU, not per online one.
#pragma once

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/result.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <vector>

namespace aitrace {

// libbpf's count of possible CPUs (/sys/devices/system/cpu/possible), or why it is unknown.
Result<size_t> possible_cpu_count();

// `key`'s copies in the per-CPU map `fd`, one per possible CPU, into `copies` (resized; a caller
// that reads many keys passes the same vector to allocate once). The kernel lays the copies out
// 8 bytes apart at least, so only a V whose size is a multiple of 8 matches a vector of V.
template <typename V>
Status read_percpu(int fd, const void* key, std::vector<V>& copies, std::string_view what) {
  static_assert(sizeof(V) % 8 == 0, "per-CPU values are 8-byte aligned");
  auto n = possible_cpu_count();
  if (!n) return n.status();
  copies.resize(*n);
  if (bpf_map_lookup_elem(fd, key, copies.data()) != 0)
    return make_error(ErrorKind::runtime, "reading {}: {}", what, bpf_error_text(errno));
  return {};
}

}  // namespace aitrace
