// Wall-clock times in text reports, so a report lines up with a job's own log: local time, as
// `date` and most loggers print it, to the second.
#pragma once

#include <cstdint>
#include <string>

namespace aitrace {

// "2026-12-06" (local date of a CLOCK_REALTIME value).
std::string clock_date_text(int64_t unix_ns);
// "11:15:39..11:15:42"; with_date: "2026-12-06 11:15:39..11:15:42 +0000" (the UTC offset; the
// end's date too when the span crosses midnight). Seconds are cut, not rounded, as `date` does.
std::string clock_span_text(int64_t start_unix_ns, int64_t end_unix_ns, bool with_date);

}  // namespace aitrace
