// Feature probes that aitrace makes with its own bpf() calls rather than libbpf's probe API,
// because libbpf 1.4's libbpf_probe_bpf_helper() and libbpf_probe_bpf_map_type() take no BPF
// token: inside a user namespace they would answer "unsupported" for everything. These pass
// the run's token (bpf_token.hpp), so a probe sees the rights the objects will load with.
#pragma once

#include <linux/bpf.h>

#include <cstdint>

namespace aitrace {

// One BPF instruction, for the tiny probe programs.
bpf_insn bpf_insn_of(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm);

// As libbpf_probe_bpf_helper(): 1 when programs of `type` may call `helper`, 0 when the
// verifier says the helper is unknown or not allowed there, a negative errno when no program
// of that type loads at all (no permission, say).
int probe_bpf_helper(bpf_prog_type type, bpf_func_id helper);

// Whether BPF_MAP_TYPE_TASK_STORAGE maps can be created (5.11+; they need BTF for the key).
bool probe_task_storage();

}  // namespace aitrace
