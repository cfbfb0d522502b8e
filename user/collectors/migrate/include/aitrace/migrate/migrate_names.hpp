// Names for the values mm_migrate_pages reports, taken from the running kernel's BTF so a
// reason added by a newer kernel is named without a code change, and a value the kernel's BTF
// does not name is printed as its number, never as a guess.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

struct btf;

namespace aitrace {

class EnumNames {
 public:
  // Reads `enum <enum_name>` from btf; names lose `prefix` and are lower-cased
  // (MR_NUMA_MISPLACED -> numa_misplaced). Enumerators named like a count (MR_TYPES,
  // MIGRATE_MODE_NR...) are not values and are skipped. Empty when btf lacks the enum.
  static EnumNames from_btf(const btf* b, std::string_view enum_name, std::string_view prefix);

  std::optional<std::string> find(int64_t value) const;
  // The name, or the decimal value when the kernel does not name it.
  std::string name(int64_t value) const;
  bool empty() const { return names_.empty(); }
  const std::map<int64_t, std::string>& all() const { return names_; }

 private:
  std::map<int64_t, std::string> names_;
};

// enum migrate_reason / enum migrate_mode of the running kernel.
const EnumNames& migrate_reason_names();
const EnumNames& migrate_mode_names();


}  // namespace aitrace
