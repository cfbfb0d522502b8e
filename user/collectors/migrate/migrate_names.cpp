#include "aitrace/migrate/migrate_names.hpp"

#include "aitrace/core/hooks.hpp"

#include <bpf/btf.h>

#include <cctype>

namespace aitrace {
namespace {

bool names_a_count(std::string_view n) {
  auto ends = [&](std::string_view s) { return n.size() >= s.size() && n.substr(n.size() - s.size()) == s; };
  return ends("_TYPES") || ends("_NR") || ends("_MAX") || n.find("_NR_") != std::string_view::npos;
}

std::string short_name(std::string_view n, std::string_view prefix) {
  if (n.substr(0, prefix.size()) == prefix) n.remove_prefix(prefix.size());
  std::string out(n);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

EnumNames EnumNames::from_btf(const btf* b, std::string_view enum_name, std::string_view prefix) {
  EnumNames out;
  if (!b) return out;
  std::string name(enum_name);
  // Both enums fit in 32 bits, so the kernel emits BTF_KIND_ENUM (never ENUM64) for them.
  int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_ENUM);
  if (id <= 0) return out;
  const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  if (!t) return out;
  const unsigned n = btf_vlen(t);
  const bool is_signed = BTF_INFO_KFLAG(t->info);
  for (unsigned i = 0; i < n; i++) {
    const struct btf_enum* e = btf_enum(t) + i;
    const char* ename = btf__name_by_offset(b, e->name_off);
    int64_t value = is_signed ? static_cast<int64_t>(e->val) : static_cast<int64_t>(static_cast<uint32_t>(e->val));
    if (!ename || !*ename || names_a_count(ename)) continue;
    out.names_.emplace(value, short_name(ename, prefix));
  }
  return out;
}

std::optional<std::string> EnumNames::find(int64_t value) const {
  auto it = names_.find(value);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::string EnumNames::name(int64_t value) const {
  auto n = find(value);
  return n ? *n : std::to_string(value);
}

const EnumNames& migrate_reason_names() {
  static const EnumNames names = EnumNames::from_btf(vmlinux_btf(), "migrate_reason", "MR_");
  return names;
}

const EnumNames& migrate_mode_names() {
  static const EnumNames names = EnumNames::from_btf(vmlinux_btf(), "migrate_mode", "MIGRATE_");
  return names;
}


}  // namespace aitrace
