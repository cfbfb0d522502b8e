#include "aitrace/output/clock_text.hpp"

#include <time.h>

#include <array>

namespace aitrace {
namespace {

tm local_tm(int64_t unix_ns) {
  // Floor division: a time before 1970 (a clock set wrong) still prints the second it is in.
  int64_t s = unix_ns / 1'000'000'000;
  if (unix_ns % 1'000'000'000 < 0) s--;
  const time_t t = static_cast<time_t>(s);
  tm out{};
  localtime_r(&t, &out);
  return out;
}

std::string format_tm(const tm& t, const char* format) {
  std::array<char, 64> buf{};
  const size_t n = strftime(buf.data(), buf.size(), format, &t);
  return {buf.data(), n};
}

}  // namespace

std::string clock_date_text(int64_t unix_ns) { return format_tm(local_tm(unix_ns), "%Y-%m-%d"); }

std::string clock_span_text(int64_t start_unix_ns, int64_t end_unix_ns, bool with_date) {
  const tm start = local_tm(start_unix_ns), end = local_tm(end_unix_ns);
  if (!with_date) return format_tm(start, "%H:%M:%S") + ".." + format_tm(end, "%H:%M:%S");
  const bool same_day = start.tm_year == end.tm_year && start.tm_yday == end.tm_yday;
  return format_tm(start, "%Y-%m-%d %H:%M:%S") + ".." + format_tm(end, same_day ? "%H:%M:%S %z" : "%Y-%m-%d %H:%M:%S %z");
}

}  // namespace aitrace
