// Whole-text number parsing for what aitrace reads from /proc, /sys, kallsyms and argv. Built on
// std::from_chars, so text that is empty, carries anything besides the number or does not fit T
// gives nullopt, where atoi/sscanf would give 0, a wrapped value or the leading digits.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace aitrace {

template <class T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
  T value{};
  auto [stop, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || stop != text.data() + text.size()) return std::nullopt;
  return value;
}

// The number between a fixed prefix and suffix: ("hugepages-2048kB", "hugepages-", "kB") -> 2048;
// nullopt when the text does not have that shape.
template <class T>
std::optional<T> parse_number_between(std::string_view text, std::string_view prefix, std::string_view suffix) {
  if (text.size() < prefix.size() + suffix.size() || !text.starts_with(prefix) || !text.ends_with(suffix))
    return std::nullopt;
  return parse_number<T>(text.substr(prefix.size(), text.size() - prefix.size() - suffix.size()));
}

// A one-value sysfs/procfs file ("1\n"): the number on its first line, nothing else.
template <class T>
std::optional<T> parse_number_line(std::string_view text) {
  std::string_view line = text.substr(0, text.find('\n'));
  return parse_number<T>(line);
}

}  // namespace aitrace
