#include "aitrace/core/core_btf_subset.hpp"

#include "aitrace/core/log.hpp"
#include "btf_raw.hpp"

#include <elf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <tuple>
#include <utility>

namespace aitrace {
namespace {

using btf_raw::load;
using btf_raw::Reader;

struct Bytes {
  const char* data = nullptr;
  size_t size = 0;
};

// A section of a 64-bit ELF object by name; empty when absent or out of bounds.
Bytes elf_section(const void* elf, size_t size, std::string_view name) {
  const auto* p = static_cast<const char*>(elf);
  if (size < sizeof(Elf64_Ehdr) || std::memcmp(p, ELFMAG, SELFMAG) != 0 || p[EI_CLASS] != ELFCLASS64) return {};
  const auto eh = load<Elf64_Ehdr>(p);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > size ||
      (size - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum || eh.e_shstrndx >= eh.e_shnum)
    return {};
  auto header = [&](size_t i) { return load<Elf64_Shdr>(p + eh.e_shoff + i * sizeof(Elf64_Shdr)); };
  const Elf64_Shdr names = header(eh.e_shstrndx);
  if (names.sh_offset > size || names.sh_size > size - names.sh_offset) return {};
  for (size_t i = 0; i < eh.e_shnum; i++) {
    const Elf64_Shdr sh = header(i);
    if (sh.sh_name >= names.sh_size || sh.sh_offset > size || sh.sh_size > size - sh.sh_offset) continue;
    const char* n = p + names.sh_offset + sh.sh_name;
    if (std::string_view(n, strnlen(n, names.sh_size - sh.sh_name)) == name) return {p + sh.sh_offset, sh.sh_size};
  }
  return {};
}

// libbpf's flavour rule: a name "X___Y" (X, Y not underscores; the last such separator) stands
// for X, so local task_struct___pre514 relocates against the kernel's task_struct.
std::string_view essential_name(std::string_view n) {
  if (n.size() < 5) return n;
  for (size_t i = n.size() - 5 + 1; i-- > 0;)
    if (n[i] != '_' && n[i + 1] == '_' && n[i + 2] == '_' && n[i + 3] == '_' && n[i + 4] != '_')
      return n.substr(0, i + 1);
  return n;
}

// The .BTF.ext header (libbpf's layout); core_relo_* is present when hdr_len covers it.
struct BtfExtHeader {
  uint16_t magic;
  uint8_t version;
  uint8_t flags;
  uint32_t hdr_len;
  uint32_t func_info_off, func_info_len, line_info_off, line_info_len;
  uint32_t core_relo_off, core_relo_len;
};

bool root_kind_for_type_relocation(uint32_t kind) {
  switch (kind) {
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_ENUM: case BTF_KIND_ENUM64: case BTF_KIND_FWD:
    case BTF_KIND_INT:
      return true;
    default:
      return false;
  }
}

// Kinds a root may have in the kernel BTF: those libbpf can take as a candidate for a named type.
bool candidate_kind(uint32_t kind) {
  return root_kind_for_type_relocation(kind) || kind == BTF_KIND_TYPEDEF || kind == BTF_KIND_FLOAT;
}

// libbpf's btf_kind_core_compat: a candidate has the local type's kind, or both are enums.
bool kinds_compatible(uint32_t local, uint32_t target) {
  const auto any_enum = [](uint32_t k) { return k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64; };
  return local == target || (any_enum(local) && any_enum(target));
}

class SubsetWriter {
 public:
  explicit SubsetWriter(const Reader& r) : r_(r), new_id_(r.count(), 0) {}

  // Gives `id` a place in the subset, with what it embeds; false on a kind that is not copied.
  bool take(uint32_t id) {
    std::vector<uint32_t> todo{id};
    while (!todo.empty()) {
      const uint32_t cur = todo.back();
      todo.pop_back();
      if (cur == 0 || new_id_[cur]) continue;
      new_id_[cur] = static_cast<uint32_t>(order_.size() + 1);
      order_.push_back(cur);
      const btf_type t = r_.type(cur);
      const uint32_t kind = BTF_INFO_KIND(t.info);
      switch (kind) {
        case BTF_KIND_INT: case BTF_KIND_ENUM: case BTF_KIND_ENUM64: case BTF_KIND_FWD: case BTF_KIND_FLOAT:
        case BTF_KIND_PTR:  // not followed: written as a pointer to void
          break;
        case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG:
          if (!push(todo, t.type)) return false;
          break;
        case BTF_KIND_ARRAY: {
          const auto a = load<btf_array>(r_.after(cur));
          if (!push(todo, a.type) || !push(todo, a.index_type)) return false;
          break;
        }
        case BTF_KIND_STRUCT: case BTF_KIND_UNION:
          for (uint32_t i = 0; i < BTF_INFO_VLEN(t.info); i++)
            if (!push(todo, load<btf_member>(r_.after(cur) + i * sizeof(btf_member)).type)) return false;
          break;
        default:
          return false;  // functions, prototypes, variables, sections, tags: no field path leads here
      }
    }
    return true;
  }

  size_t types() const { return order_.size(); }

  std::string raw() {
    std::string types;
    for (const uint32_t id : order_) write(types, id);
    btf_header h{};
    h.magic = BTF_MAGIC;
    h.version = BTF_VERSION;
    h.hdr_len = sizeof(btf_header);
    h.type_off = 0;
    h.type_len = static_cast<uint32_t>(types.size());
    h.str_off = h.type_len;
    h.str_len = static_cast<uint32_t>(strs_.size());
    std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
    return out + types + strs_;
  }

 private:
  bool push(std::vector<uint32_t>& todo, uint32_t id) {
    if (id >= r_.count()) return false;
    todo.push_back(id);
    return true;
  }

  uint32_t str(uint32_t off) {
    const std::string_view s = r_.name(off);
    if (s.empty()) return 0;
    auto [it, fresh] = str_off_.try_emplace(s, static_cast<uint32_t>(strs_.size()));
    if (fresh) strs_.append(s).push_back('\0');
    return it->second;
  }

  template <typename T>
  static void put(std::string& out, const T& v) { out.append(reinterpret_cast<const char*>(&v), sizeof(v)); }

  void write(std::string& out, uint32_t id) {
    btf_type t = r_.type(id);
    const uint32_t kind = BTF_INFO_KIND(t.info), vlen = BTF_INFO_VLEN(t.info);
    const char* extra = r_.after(id);
    t.name_off = str(t.name_off);
    switch (kind) {
      case BTF_KIND_PTR: t.type = 0; break;
      case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        t.type = new_id_[t.type];
        break;
      default: break;  // `size` (int, enum, struct, float) or unused (array, fwd)
    }
    put(out, t);
    if (kind == BTF_KIND_INT) {
      put(out, load<uint32_t>(extra));
    } else if (kind == BTF_KIND_ARRAY) {
      auto a = load<btf_array>(extra);
      a.type = new_id_[a.type];
      a.index_type = new_id_[a.index_type];
      put(out, a);
    } else if (kind == BTF_KIND_STRUCT || kind == BTF_KIND_UNION) {
      for (uint32_t i = 0; i < vlen; i++) {
        auto m = load<btf_member>(extra + i * sizeof(btf_member));
        m.name_off = str(m.name_off);
        m.type = new_id_[m.type];
        put(out, m);
      }
    } else if (kind == BTF_KIND_ENUM) {
      for (uint32_t i = 0; i < vlen; i++) {
        auto e = load<btf_enum>(extra + i * sizeof(btf_enum));
        e.name_off = str(e.name_off);
        put(out, e);
      }
    } else if (kind == BTF_KIND_ENUM64) {
      for (uint32_t i = 0; i < vlen; i++) {
        auto e = load<btf_enum64>(extra + i * sizeof(btf_enum64));
        e.name_off = str(e.name_off);
        put(out, e);
      }
    }
  }

  const Reader& r_;
  std::vector<uint32_t> new_id_;  // kernel id -> subset id (0: not taken)
  std::vector<uint32_t> order_;   // kernel ids in subset order (subset id - 1)
  std::string strs_{std::string(1, '\0')};
  std::unordered_map<std::string_view, uint32_t> str_off_;
};

}  // namespace

std::optional<std::vector<CoreRoot>> core_relocation_roots(const void* elf, size_t size) {
  const Bytes btf = elf_section(elf, size, ".BTF"), ext = elf_section(elf, size, ".BTF.ext");
  if (!btf.data || !ext.data || ext.size < sizeof(BtfExtHeader)) return std::nullopt;
  auto local = btf_raw::open_raw(btf.data, btf.size);
  const auto h = load<BtfExtHeader>(ext.data);
  if (!local || h.magic != BTF_MAGIC || h.hdr_len > ext.size) return std::nullopt;
  std::vector<CoreRoot> roots;
  if (h.hdr_len < sizeof(BtfExtHeader) || h.core_relo_len == 0) return roots;  // no CO-RE relocations
  const size_t body = ext.size - h.hdr_len;
  if (h.core_relo_off > body || h.core_relo_len > body - h.core_relo_off || h.core_relo_len < sizeof(uint32_t))
    return std::nullopt;
  const char* p = ext.data + h.hdr_len + h.core_relo_off;
  const char* end = p + h.core_relo_len;
  const auto rec_size = load<uint32_t>(p);
  if (rec_size < sizeof(bpf_core_relo)) return std::nullopt;
  for (p += sizeof(uint32_t); p < end;) {
    if (end - p < 8) return std::nullopt;
    const auto count = load<uint32_t>(p + 4);  // after the section name's offset
    p += 8;
    if (static_cast<size_t>(end - p) / rec_size < count) return std::nullopt;
    for (uint32_t i = 0; i < count; i++, p += rec_size) {
      const auto relo = load<bpf_core_relo>(p);
      if (relo.kind == BPF_CORE_TYPE_ID_LOCAL) continue;  // answered from the object's own BTF
      if (relo.kind == BPF_CORE_TYPE_ID_TARGET || relo.kind == BPF_CORE_TYPE_MATCHES) return std::nullopt;
      if (relo.type_id == 0 || relo.type_id >= local->count()) return std::nullopt;
      const btf_type t = local->type(relo.type_id);
      const bool type_based = relo.kind == BPF_CORE_TYPE_EXISTS || relo.kind == BPF_CORE_TYPE_SIZE;
      if (type_based && !root_kind_for_type_relocation(BTF_INFO_KIND(t.info))) return std::nullopt;
      const std::string_view name = essential_name(local->name(t.name_off));
      if (name.empty()) return std::nullopt;
      CoreRoot root{std::string(name), BTF_INFO_KIND(t.info)};
      if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(std::move(root));
    }
  }
  std::sort(roots.begin(), roots.end(), [](const CoreRoot& a, const CoreRoot& b) {
    return std::tie(a.name, a.kind) < std::tie(b.name, b.kind);
  });
  return roots;
}

std::optional<std::string> kernel_btf_subset(const void* kernel_btf, size_t size, const std::vector<CoreRoot>& roots) {
  auto reader = btf_raw::open_raw(kernel_btf, size);
  if (!reader) return std::nullopt;
  const Reader& r = *reader;
  // By name: the roots' kinds, and whether a kernel type libbpf would take for each was seen.
  std::unordered_map<std::string_view, std::vector<std::pair<uint32_t, bool>>> wanted;
  size_t longest = std::string_view("long unsigned int").size();
  for (const auto& root : roots) {
    wanted[root.name].emplace_back(root.kind, false);
    longest = std::max(longest, root.name.size());
  }
  SubsetWriter w(r);
  for (uint32_t id = 1; id < r.count(); id++) {
    const btf_type t = r.type(id);
    const uint32_t kind = BTF_INFO_KIND(t.info);
    if (!t.name_off || !candidate_kind(kind)) continue;
    const std::string_view n = essential_name(r.name(t.name_off));
    if (n.size() > longest) continue;
    auto it = wanted.find(n);
    const bool pointer_size = kind == BTF_KIND_INT && (n == "long int" || n == "long unsigned int");
    if (it == wanted.end() && !pointer_size) continue;
    if (it != wanted.end())
      for (auto& [local_kind, seen] : it->second) seen |= kinds_compatible(local_kind, kind);
    if (!w.take(id)) return std::nullopt;
  }
  for (const auto& [name, kinds] : wanted)
    for (const auto& [kind, seen] : kinds)
      if (!seen) return std::nullopt;
  return w.raw();
}

CoreBtfFile::CoreBtfFile(CoreBtfFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) { o.path_.clear(); }

CoreBtfFile& CoreBtfFile::operator=(CoreBtfFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

CoreBtfFile::~CoreBtfFile() {
  if (fd_ >= 0) close(fd_);
}

CoreBtfFile CoreBtfFile::for_object(const char* what, const void* elf, size_t size, const char* kernel_btf_path) {
  CoreBtfFile f;
  const auto roots = core_relocation_roots(elf, size);
  if (!roots || roots->empty()) {
    debug("{}: CO-RE target: the whole kernel BTF ({})", what, roots ? "no relocations" : "relocations a subset cannot answer");
    return f;
  }
  std::optional<std::string> subset;
  {
    btf_raw::BtfBytes kernel;
    if (btf_raw::read_btf_file(kernel_btf_path, kernel)) subset = kernel_btf_subset(kernel.data, kernel.size, *roots);
  }
  if (!subset) {
    debug("{}: CO-RE target: the whole kernel BTF (no subset of {} for its {} types)", what, kernel_btf_path, roots->size());
    return f;
  }
  const int fd = memfd_create("aitrace-core-btf", MFD_CLOEXEC);
  if (fd < 0) return f;
  f.fd_ = fd;
  for (size_t done = 0; done < subset->size();) {
    const ssize_t n = write(fd, subset->data() + done, subset->size() - done);
    if (n <= 0) return CoreBtfFile{};
    done += static_cast<size_t>(n);
  }
  std::string path = fmt::format("/proc/self/fd/{}", fd);
  if (access(path.c_str(), R_OK) != 0) return CoreBtfFile{};  // no /proc: libbpf could not open it
  f.path_ = std::move(path);
  debug("{}: CO-RE target: {} bytes of the kernel BTF, the types its {} relocated types reach", what, subset->size(),
        roots->size());
  return f;
}

}  // namespace aitrace
