// Strings from the kernel (comm, device names) are untrusted: a task can name itself anything.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace aitrace {

// For terminal text: printable ASCII kept, everything else (control bytes, escape sequences,
// non-ASCII, backslash) as \xNN / \\ so output cannot move the cursor or forge lines.
std::string escape_text(std::string_view s);
// For JSON, OpenMetrics label values and Perfetto strings: valid UTF-8 kept, invalid bytes as
// \xNN and a backslash doubled, so the value decodes back to the kernel's bytes: a comm that is
// the four characters `\xff` reads `\\xff`, a 0xff byte `\xff` (nlohmann and the OpenMetrics
// writer escape quotes and control characters themselves).
std::string sanitize_utf8(std::string_view s);
// Serializes a report; never throws on a string that escaped sanitizing (U+FFFD instead).
std::string json_text(const nlohmann::json& j, int indent = -1);
// A fixed-size kernel char array (comm) up to its first NUL.
std::string_view kernel_string(const char* s, size_t max_len);

}  // namespace aitrace
