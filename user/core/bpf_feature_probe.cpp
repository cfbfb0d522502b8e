#include "aitrace/core/bpf_feature_probe.hpp"

#include "aitrace/core/bpf_token.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <string_view>

namespace aitrace {

bpf_insn bpf_insn_of(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

int probe_bpf_helper(bpf_prog_type type, bpf_func_id helper) {
  // call helper; r0 = 0; exit. The verifier may refuse the arguments (r1..r5 are not set up),
  // but it names an unknown helper first ("invalid func", "unknown func").
  const bpf_insn prog[] = {
      bpf_insn_of(BPF_JMP | BPF_CALL, 0, 0, 0, helper),
      bpf_insn_of(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
      bpf_insn_of(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  char log[4096] = {};
  bpf_prog_load_opts opts = prog_load_opts_with_token();
  opts.log_buf = log;
  opts.log_size = sizeof(log);
  opts.log_level = 1;
  const int fd = bpf_prog_load(type, nullptr, "GPL", prog, sizeof(prog) / sizeof(prog[0]), &opts);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  const int err = errno;
  const std::string_view text(log);
  if (text.find("invalid func ") != std::string_view::npos || text.find("unknown func ") != std::string_view::npos)
    return 0;
  // A rejection for another reason (the unset arguments) still means the helper is known here;
  // a refusal before the verifier ran (EPERM) says nothing about it.
  return text.empty() ? -err : 1;
}

bool probe_task_storage() {
  // The map's key must be an int in BTF: type 1 is "int", the value type too.
  btf* b = btf__new_empty();
  if (!b) return false;
  const int int_id = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  uint32_t size = 0;
  const void* raw = int_id > 0 ? btf__raw_data(b, &size) : nullptr;
  bpf_btf_load_opts btf_opts = btf_load_opts_with_token();
  const int btf_fd = raw ? bpf_btf_load(raw, size, &btf_opts) : -1;
  btf__free(b);
  if (btf_fd < 0) return false;
  bpf_map_create_opts opts = map_create_opts_with_token();
  opts.btf_fd = static_cast<__u32>(btf_fd);
  opts.btf_key_type_id = static_cast<__u32>(int_id);
  opts.btf_value_type_id = static_cast<__u32>(int_id);
  opts.map_flags |= BPF_F_NO_PREALLOC;
  const int fd = bpf_map_create(BPF_MAP_TYPE_TASK_STORAGE, nullptr, 4, 4, 0, &opts);
  close(btf_fd);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace aitrace
