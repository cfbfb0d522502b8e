// Numeric arguments of the workloads. A bad one is a usage error (exit 2) naming the argument,
// never read as 0 the way atoi would: a test that passes "1O00" gets told, not a 0 ms run.
#pragma once

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

inline int int_arg(const char* text, const char* what) {
  int v = 0;
  const char* end = text + std::strlen(text);
  auto [stop, ec] = std::from_chars(text, end, v);
  if (text == end || ec != std::errc() || stop != end) {
    std::fprintf(stderr, "%s: '%s' is not a number\n", what, text);
    std::exit(2);
  }
  return v;
}
