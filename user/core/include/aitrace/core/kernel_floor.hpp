// aitrace's kernel floor, checked before anything is loaded so that an older kernel gets one
// clear line instead of a verifier log: the sched objects use BPF atomic fetch-and-add and
// compare-and-exchange, which arrived in Linux 5.12. Checked by loading a tiny program, not
// from the release string (distributions backport BPF features).
#pragma once

#include "aitrace/core/result.hpp"

#include <optional>

namespace aitrace {

// Before 5.11 the kernel charged BPF maps and programs to RLIMIT_MEMLOCK instead of the memory
// cgroup. Tells by the helper that arrived with memcg accounting (bpf_ktime_get_coarse_ns), as
// libbpf does.
bool kernel_charges_bpf_to_memlock();

// Where the kernel charges BPF memory to RLIMIT_MEMLOCK (`charged`), raises the limit to
// unlimited; a privilege error naming the limit when that is not allowed. Nothing otherwise.
Status raise_memlock_for_bpf(bool charged);

// Whether this kernel's verifier accepts BPF atomic fetch-and-add and compare-and-exchange;
// nullopt when the probe could not tell (no permission to load any program).
std::optional<bool> kernel_has_bpf_atomics();

// The floor's verdict on that answer: an unsupported error below it.
Status bpf_atomics_floor(std::optional<bool> has_atomics);

// All of the above, in order (the memlock limit first: the probe itself loads a program).
Status check_kernel_floor();

}  // namespace aitrace
