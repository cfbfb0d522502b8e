#include "aitrace/core/bpf_object.hpp"

#include <fmt/format.h>

namespace aitrace {

std::string bpf_error_text(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  return fmt::format("{} ({})", std::strerror(err), name ? name : std::to_string(err).c_str());
}

}  // namespace aitrace
