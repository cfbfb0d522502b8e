#include "aitrace/core/kernel_btf_facts.hpp"

#include <fcntl.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace aitrace {
namespace {

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Bytes that follow a btf_type of this kind (its members, parameters, values); -1: unknown kind.
long extra_bytes(uint32_t kind, uint32_t vlen) {
  switch (kind) {
    case BTF_KIND_INT: return sizeof(uint32_t);
    case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT: case BTF_KIND_TYPE_TAG: return 0;
    case BTF_KIND_ARRAY: return sizeof(btf_array);
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: return static_cast<long>(vlen * sizeof(btf_member));
    case BTF_KIND_ENUM: return static_cast<long>(vlen * sizeof(btf_enum));
    case BTF_KIND_FUNC_PROTO: return static_cast<long>(vlen * sizeof(btf_param));
    case BTF_KIND_VAR: return sizeof(btf_var);
    case BTF_KIND_DATASEC: return static_cast<long>(vlen * sizeof(btf_var_secinfo));
    case BTF_KIND_DECL_TAG: return sizeof(btf_decl_tag);
    case BTF_KIND_ENUM64: return static_cast<long>(vlen * sizeof(btf_enum64));
    default: return -1;
  }
}

class Reader {
 public:
  Reader(const char* types, size_t types_len, const char* strs, size_t strs_len)
      : types_(types), types_len_(types_len), strs_(strs), strs_len_(strs_len) {}

  // Offsets of every type (id 1 at index 1); false when a type runs past the section.
  bool index() {
    offsets_.push_back(0);  // id 0 is void
    size_t off = 0;
    while (off < types_len_) {
      if (types_len_ - off < sizeof(btf_type)) return false;
      const auto t = load<btf_type>(types_ + off);
      const long extra = extra_bytes(BTF_INFO_KIND(t.info), BTF_INFO_VLEN(t.info));
      if (extra < 0 || types_len_ - off - sizeof(btf_type) < static_cast<size_t>(extra)) return false;
      offsets_.push_back(static_cast<uint32_t>(off));
      off += sizeof(btf_type) + static_cast<size_t>(extra);
    }
    return true;
  }
  size_t count() const { return offsets_.size(); }
  btf_type type(uint32_t id) const { return load<btf_type>(types_ + offsets_[id]); }
  const char* after(uint32_t id) const { return types_ + offsets_[id] + sizeof(btf_type); }
  std::string_view name(uint32_t off) const {
    if (off >= strs_len_) return {};
    return {strs_ + off, strnlen(strs_ + off, strs_len_ - off)};
  }
  bool has_member(uint32_t id, std::string_view member) const {
    const btf_type t = type(id);
    for (uint32_t i = 0; i < BTF_INFO_VLEN(t.info); i++)
      if (name(load<btf_member>(after(id) + i * sizeof(btf_member)).name_off) == member) return true;
    return false;
  }
  // The function prototype a btf_trace_<name> typedef leads to (a pointer to it, modifiers).
  std::optional<int> proto_args(uint32_t id) const {
    for (int hops = 0; hops < 4; hops++) {
      if (id == 0 || id >= count()) return std::nullopt;
      const btf_type t = type(id);
      if (BTF_INFO_KIND(t.info) == BTF_KIND_FUNC_PROTO) {
        const uint32_t vlen = BTF_INFO_VLEN(t.info);
        if (vlen < 1) return std::nullopt;
        return static_cast<int>(vlen) - 1;
      }
      id = t.type;
    }
    return std::nullopt;
  }

 private:
  const char* types_;
  size_t types_len_;
  const char* strs_;
  size_t strs_len_;
  std::vector<uint32_t> offsets_;
};

// The file's bytes: mapped where the kernel allows it (6.16+), read otherwise.
struct BtfBytes {
  const void* data = nullptr;
  size_t size = 0;
  void* mapped = MAP_FAILED;
  std::vector<char> copy;
  BtfBytes() = default;
  BtfBytes(const BtfBytes&) = delete;
  BtfBytes& operator=(const BtfBytes&) = delete;
  ~BtfBytes() {
    if (mapped != MAP_FAILED) munmap(mapped, size);
  }
};

bool read_btf_file(const char* path, BtfBytes& out) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return false;
  }
  out.size = static_cast<size_t>(st.st_size);
  out.mapped = mmap(nullptr, out.size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (out.mapped != MAP_FAILED) {
    close(fd);
    out.data = out.mapped;
    return true;
  }
  out.copy.resize(out.size);
  size_t got = 0;
  while (got < out.size) {
    const ssize_t n = read(fd, out.copy.data() + got, out.size - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out.data = out.copy.data();
  out.size = got;
  return got > 0;
}

}  // namespace

std::optional<TracepointPrototype> KernelBtfFacts::tracepoint(std::string_view name) const {
  auto it = tracepoints.find(std::string(name));
  if (it == tracepoints.end()) return std::nullopt;
  return it->second;
}

std::optional<KernelBtfFacts> scan_kernel_btf(const void* data, size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  if (size < sizeof(btf_header)) return std::nullopt;
  const auto h = load<btf_header>(bytes);
  if (h.magic != BTF_MAGIC || h.hdr_len < sizeof(btf_header) || h.hdr_len > size) return std::nullopt;
  const size_t body = size - h.hdr_len;
  if (h.type_off > body || h.type_len > body - h.type_off || h.str_off > body || h.str_len > body - h.str_off)
    return std::nullopt;
  Reader r(bytes + h.hdr_len + h.type_off, h.type_len, bytes + h.hdr_len + h.str_off, h.str_len);
  if (!r.index()) return std::nullopt;
  KernelBtfFacts f;
  constexpr std::string_view prefix = "btf_trace_";
  bool seen_entity = false, seen_cfs_rq = false;
  for (uint32_t id = 1; id < r.count(); id++) {
    const btf_type t = r.type(id);
    const uint32_t kind = BTF_INFO_KIND(t.info);
    if (kind == BTF_KIND_TYPEDEF) {
      const std::string_view n = r.name(t.name_off);
      if (!n.starts_with(prefix)) continue;
      // A prototype the reader cannot follow is left out, as libbpf's lookup would find none.
      if (auto args = r.proto_args(t.type)) f.tracepoints.emplace(std::string(n.substr(prefix.size())), TracepointPrototype{id, *args});
    } else if (kind == BTF_KIND_STRUCT) {
      // The first struct of a name, as btf__find_by_name_kind() answers.
      const std::string_view n = r.name(t.name_off);
      if (n == "sched_entity" && !seen_entity) {
        seen_entity = true;
        f.sched_entity_has_cfs_rq = r.has_member(id, "cfs_rq");
      } else if (n == "cfs_rq" && !seen_cfs_rq) {
        seen_cfs_rq = true;
        f.cfs_rq_has_rq = r.has_member(id, "rq");
      } else if (n == "bpf_mem_alloc") {
        f.has_bpf_mem_alloc = true;
      }
    }
  }
  return f;
}

KernelBtfLoad load_kernel_btf_facts(const char* path) {
  KernelBtfLoad l;
  BtfBytes bytes;
  errno = 0;
  if (!read_btf_file(path, bytes)) {
    l.why_not = errno == ENOENT ? fmt::format("this kernel has no BTF ({}); aitrace needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.12+)", path)
                                : fmt::format("cannot read the kernel's BTF ({}): {}", path, errno ? std::strerror(errno) : "empty file");
    return l;
  }
  auto f = scan_kernel_btf(bytes.data, bytes.size);
  if (!f) {
    l.why_not = fmt::format("cannot read the kernel's BTF ({}): not well-formed, or a type kind this aitrace does not know", path);
    return l;
  }
  l.facts = std::make_unique<KernelBtfFacts>(std::move(*f));
  return l;
}

namespace {
const KernelBtfLoad& loaded_facts() {
  static const KernelBtfLoad loaded = load_kernel_btf_facts("/sys/kernel/btf/vmlinux");
  return loaded;
}
}  // namespace

const KernelBtfFacts* kernel_btf_facts() { return loaded_facts().facts.get(); }

const std::string& kernel_btf_facts_error() { return loaded_facts().why_not; }

}  // namespace aitrace
