// What start-up needs from the kernel's BTF, read in one pass over the raw type section instead
// of libbpf's full parse. A libbpf parse of /sys/kernel/btf/vmlinux (5.5 MB, 126k types on
// 6.18) holds ~12 MB and took 20-50 ms here, most of it reading the file in the 4 KiB pieces
// sysfs returns; libbpf parsed it once more for every object it loaded (no longer: aitrace's
// tp_btf handler, tp_btf_attach.hpp, takes the attach targets from here), so aitrace's own
// questions (which tracepoints have a BTF prototype, how many arguments, which scheduler fields
// exist) are answered from this compact summary, and the full parse (vmlinux_btf()) is left to
// the commands that read arbitrary types (doctor, migrate's enum names).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aitrace {

struct TracepointPrototype {
  uint32_t typedef_id = 0;  // btf_trace_<name>: a tp_btf program's attach_btf_id
  int args = 0;             // TP_PROTO's arguments (the prototype's first parameter, __data, excluded)
};

struct KernelBtfFacts {
  std::unordered_map<std::string, TracepointPrototype> tracepoints;  // by name, without btf_trace_
  bool sched_entity_has_cfs_rq = false;  // CONFIG_FAIR_GROUP_SCHED: sched_entity.cfs_rq
  bool cfs_rq_has_rq = false;            // and cfs_rq.rq
  bool has_bpf_mem_alloc = false;        // struct bpf_mem_alloc: hash maps allocate at run time (6.1+)

  std::optional<TracepointPrototype> tracepoint(std::string_view name) const;
};

// Raw BTF (header, types, strings) in this machine's byte order; nullopt when it is not
// well-formed (bad magic, a section out of bounds, a type kind this reader does not know).
std::optional<KernelBtfFacts> scan_kernel_btf(const void* data, size_t size);

struct KernelBtfLoad {
  std::unique_ptr<KernelBtfFacts> facts;
  std::string why_not;  // one line for the user when facts is null: no BTF, unreadable, unknown kinds
};
KernelBtfLoad load_kernel_btf_facts(const char* path);

// The running kernel's facts, read once (mmap of /sys/kernel/btf/vmlinux where the kernel allows
// it, 6.16+; read() before); nullptr when the kernel has no BTF or it cannot be read.
const KernelBtfFacts* kernel_btf_facts();
// Why kernel_btf_facts() is nullptr, as one line for the user (no BTF, unreadable, unknown kinds).
const std::string& kernel_btf_facts_error();

}  // namespace aitrace
