// Raw BTF read in place (header, type section, string section), without libbpf's parse: the
// one-pass readers of start-up (kernel_btf_facts.cpp, core_btf_subset.cpp) walk the kernel's
// 126k types with it. Private to core.
#pragma once

#include <linux/btf.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace aitrace::btf_raw {

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Bytes that follow a btf_type of this kind (its members, parameters, values); -1: unknown kind.
inline long extra_bytes(uint32_t kind, uint32_t vlen) {
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

// The file's bytes into `out`; false when it cannot be opened or is empty (errno says why).
bool read_btf_file(const char* path, BtfBytes& out);

// A reader of raw BTF (header, types, strings) in this machine's byte order, types indexed;
// nullopt when it is not well-formed (bad magic, a section out of bounds, a type kind this reader
// does not know).
inline std::optional<Reader> open_raw(const void* data, size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  if (size < sizeof(btf_header)) return std::nullopt;
  const auto h = load<btf_header>(bytes);
  if (h.magic != BTF_MAGIC || h.hdr_len < sizeof(btf_header) || h.hdr_len > size) return std::nullopt;
  const size_t body = size - h.hdr_len;
  if (h.type_off > body || h.type_len > body - h.type_off || h.str_off > body || h.str_len > body - h.str_off)
    return std::nullopt;
  Reader r(bytes + h.hdr_len + h.type_off, h.type_len, bytes + h.hdr_len + h.str_off, h.str_len);
  if (!r.index()) return std::nullopt;
  return r;
}

}  // namespace aitrace::btf_raw
