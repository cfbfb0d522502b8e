// The part of the kernel's BTF that a BPF object's CO-RE relocations can reach, handed to libbpf
// as its CO-RE target (bpf_object_open_opts.btf_custom_path) in place of the whole kernel BTF.
//
// Why: libbpf finds the candidates of each relocated type by walking every kernel type and
// comparing names, once per local type. sched relocates 14 types (task_struct and its flavours,
// rq, cgroup, pid, ...) against 126k kernel types: ~10 ms of its ~50 ms start-up (measured
// 2026-12-07 with bpftool's BTFGen output as the target: 50.3 -> 40.2 ms). The subset is a few
// hundred types, built in one pass over the mapped kernel BTF. With it, and with the tp_btf attach
// targets taken from aitrace's own facts (tp_btf_attach.hpp), libbpf no longer parses the whole
// kernel BTF at all.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace aitrace {

// A type a CO-RE relocation starts from: its name with the flavour suffix ("___x") dropped, as
// libbpf drops it, and its BTF kind (BTF_KIND_STRUCT, ...).
struct CoreRoot {
  std::string name;
  unsigned kind = 0;
  bool operator==(const CoreRoot&) const = default;
};

// The types the object's CO-RE relocations start from. nullopt when the ELF, its .BTF or .BTF.ext cannot be read, or a
// relocation could come out different against a subset: a target type id (ids differ), a deep
// type match (TYPE_MATCHES follows pointers), or a type-based one on a type that is not a
// struct, union, enum or int.
std::optional<std::vector<CoreRoot>> core_relocation_roots(const void* elf, size_t size);

// Raw BTF with every kernel type named like a root (flavour dropped, any kind libbpf could take
// as a candidate) and what those types embed: members, array elements, typedef and modifier
// targets, all copied whole. A pointer is kept as a pointer to void: a relocation's access path
// never crosses a pointer, and libbpf takes any two pointers as compatible fields. nullopt when a
// root has no type here of a kind libbpf would take for it (the same kind, or enum and enum64):
// libbpf would go on to the modules' BTF, which a subset cannot stand for. Also nullopt when the
// closure meets a kind that is not copied (functions, variables) or the BTF is not well-formed.
// The kernel's "long int" and "long unsigned int" are kept too: libbpf sizes pointers from them
// (it would otherwise assume its own process's pointer size).
std::optional<std::string> kernel_btf_subset(const void* kernel_btf, size_t size, const std::vector<CoreRoot>& roots);

// The subset for one object, in a memfd that lives as long as this; path() is what libbpf opens
// (/proc/self/fd/N), nullptr when there is no subset: libbpf then searches the whole kernel BTF,
// as it would without this.
class CoreBtfFile {
 public:
  CoreBtfFile() = default;
  CoreBtfFile(CoreBtfFile&& o) noexcept;
  CoreBtfFile& operator=(CoreBtfFile&& o) noexcept;
  CoreBtfFile(const CoreBtfFile&) = delete;
  CoreBtfFile& operator=(const CoreBtfFile&) = delete;
  ~CoreBtfFile();

  // `what` names the object in the -v log line that says which target libbpf gets and why.
  static CoreBtfFile for_object(const char* what, const void* elf, size_t size,
                                const char* kernel_btf_path = "/sys/kernel/btf/vmlinux");
  const char* path() const { return path_.empty() ? nullptr : path_.c_str(); }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace aitrace
