#include "aitrace/core/kernel_floor.hpp"

#include "aitrace/core/bpf_feature_probe.hpp"
#include "aitrace/core/bpf_permission.hpp"
#include "aitrace/core/bpf_token.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace aitrace {
namespace {

std::string limit_text(rlim_t v) { return v == RLIM_INFINITY ? "unlimited" : fmt::format("{} KiB", v / 1024); }

}  // namespace

bool kernel_charges_bpf_to_memlock() {
  return probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_coarse_ns) == 0;
}

Status raise_memlock_for_bpf(bool charged) {
  if (!charged) return {};
  rlimit want{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &want) == 0) return {};
  int err = errno;
  rlimit have{};
  getrlimit(RLIMIT_MEMLOCK, &have);
  return make_error(ErrorKind::privilege,
                    "this kernel (before Linux 5.11) charges BPF memory to RLIMIT_MEMLOCK, and raising it from {} "
                    "(hard limit {}) failed: {}; run with CAP_SYS_RESOURCE or after `ulimit -l unlimited`",
                    limit_text(have.rlim_cur), limit_text(have.rlim_max), std::strerror(err));
}

namespace {

// The atomics probe program's load: its fd (closed) as 0, or the negative errno.
int load_atomics_probe() {
  constexpr uint8_t r0 = 0, r1 = 1, fp = 10;
  // *(u64 *)(fp - 8) = 0; r1 = 1; r1 = atomic_fetch_add(fp - 8, r1); r0 = 0;
  // r0 = cmpxchg(fp - 8, r0, r1); r0 = 0; exit
  const bpf_insn prog[] = {
      bpf_insn_of(BPF_ST | BPF_MEM | BPF_DW, fp, 0, -8, 0),
      bpf_insn_of(BPF_ALU64 | BPF_MOV | BPF_K, r1, 0, 0, 1),
      bpf_insn_of(BPF_STX | BPF_ATOMIC | BPF_DW, fp, r1, -8, BPF_ADD | BPF_FETCH),
      bpf_insn_of(BPF_ALU64 | BPF_MOV | BPF_K, r0, 0, 0, 0),
      bpf_insn_of(BPF_STX | BPF_ATOMIC | BPF_DW, fp, r1, -8, BPF_CMPXCHG),
      bpf_insn_of(BPF_ALU64 | BPF_MOV | BPF_K, r0, 0, 0, 0),
      bpf_insn_of(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  bpf_prog_load_opts opts = prog_load_opts_with_token();
  int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, nullptr, "GPL", prog, sizeof(prog) / sizeof(prog[0]), &opts);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return fd;
}

}  // namespace

std::optional<bool> kernel_has_bpf_atomics() {
  const int r = load_atomics_probe();
  if (r == 0) return true;
  // Older verifiers reject the instructions as malformed ("uses reserved fields"): EINVAL.
  if (r == -EINVAL) return false;
  return std::nullopt;
}


Status bpf_atomics_floor(std::optional<bool> has_atomics) {
  if (has_atomics.value_or(true)) return {};
  return make_error(ErrorKind::unsupported,
                    "this kernel's BPF has no atomic fetch-and-add/compare-and-exchange: aitrace needs Linux 5.12 "
                    "or newer (with BTF)");
}

Status check_kernel_floor() {
  AITRACE_TRY(raise_memlock_for_bpf(kernel_charges_bpf_to_memlock()));
  const int r = load_atomics_probe();
  // The first bpf() call of a run: a refusal here is reported with its cause before anything
  // is forked or loaded (a seccomp filter, a user namespace, lockdown).
  if (r == -EPERM) return bpf_denied_error("loading a BPF program");
  return bpf_atomics_floor(r == 0 ? std::optional<bool>(true) : r == -EINVAL ? std::optional<bool>(false) : std::nullopt);
}

}  // namespace aitrace
