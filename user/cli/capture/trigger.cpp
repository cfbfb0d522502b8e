#include "aitrace/capture/trigger.hpp"

#include "aitrace/capture/capture_summary.hpp"
#include "aitrace/driver/options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace aitrace {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 5> kSchedMetrics = {"runq_wakeup", "runq_preempt", "oncpu", "offcpu_sleep",
                                                           "offcpu_block"};
constexpr std::array<std::string_view, 6> kSchedStats = {"p50", "p90", "p99", "p999", "max", "count"};
constexpr std::array<std::string_view, 3> kMigrateNames = {"pages", "pages_failed", "calls"};

template <size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

template <size_t N>
std::string list(const std::array<std::string_view, N>& set) {
  std::string out;
  for (auto s : set) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

Error bad(const std::string& text, std::string_view token, size_t column, const std::string& why) {
  return make_error(ErrorKind::usage, "invalid --trigger '{}': {} '{}' at column {}", text, why, token, column + 1);
}

}  // namespace

Result<Trigger> parse_trigger(const std::string& text) {
  Trigger t;
  t.text = text;
  const size_t op = text.find('>');
  if (op == std::string::npos)
    return make_error(ErrorKind::usage, "invalid --trigger '{}': no comparison (expected NAME>VALUE, e.g. sched.runq_wakeup.p99>5ms)", text);
  t.or_equal = op + 1 < text.size() && text[op + 1] == '=';
  // The left side's dotted tokens, with their columns; spaces around tokens are allowed.
  std::vector<std::pair<std::string, size_t>> parts;
  size_t start = 0;
  for (size_t i = 0; i <= op; i++) {
    if (i < op && text[i] != '.') continue;
    std::string tok = text.substr(start, i - start);
    size_t col = start;
    while (!tok.empty() && tok.front() == ' ') tok.erase(0, 1), col++;
    while (!tok.empty() && tok.back() == ' ') tok.pop_back();
    parts.emplace_back(tok, col);
    start = i + 1;
  }
  t.source = parts[0].first;
  if (t.source == "sched") {
    if (parts.size() != 3)
      return bad(text, text.substr(0, op), 0, "expected sched.METRIC.STAT (e.g. sched.runq_wakeup.p99), not");
    t.name = parts[1].first;
    t.stat = parts[2].first;
    if (!one_of(t.name, kSchedMetrics))
      return bad(text, t.name, parts[1].second, "unknown sched metric (expected " + list(kSchedMetrics) + ")");
    if (!one_of(t.stat, kSchedStats))
      return bad(text, t.stat, parts[2].second, "unknown statistic (expected " + list(kSchedStats) + ")");
  } else if (t.source == "migrate") {
    if (parts.size() != 2) return bad(text, text.substr(0, op), 0, "expected migrate.NAME (e.g. migrate.pages), not");
    t.name = parts[1].first;
    if (!one_of(t.name, kMigrateNames))
      return bad(text, t.name, parts[1].second, "unknown migrate count (expected " + list(kMigrateNames) + ")");
    t.stat = "count";
  } else {
    return bad(text, t.source, parts[0].second, "unknown source (expected sched or migrate)");
  }
  const size_t value_at = op + (t.or_equal ? 2 : 1);
  std::string value = text.substr(value_at);
  size_t col = value_at;
  while (!value.empty() && value.front() == ' ') value.erase(0, 1), col++;
  while (!value.empty() && value.back() == ' ') value.pop_back();
  if (t.stat == "count") {
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), t.threshold);
    if (ec != std::errc() || p != value.data() + value.size() || value.empty())
      return bad(text, value, col, "expected a whole number, not");
  } else {
    auto d = parse_duration(value, "--trigger", std::chrono::nanoseconds(0));
    if (!d || value.find_first_not_of("0123456789") == std::string::npos)
      return bad(text, value, col, "expected a duration with its unit (500us, 5ms, 1s), not");
    t.threshold = static_cast<uint64_t>(d->count());
  }
  return t;
}

std::optional<uint64_t> Trigger::value(const std::map<std::string, json>& docs, std::string* what) const {
  auto it = docs.find(source);
  if (it == docs.end()) return std::nullopt;
  const json& doc = it->second;
  if (source == "migrate") {
    const json totals = doc.value("totals", json::object());
    const uint64_t v = name == "pages" ? num(totals, "pages_succeeded") + num(totals, "pages_failed") : num(totals, name.c_str());
    if (what) *what = "all processes";
    return v;
  }
  uint64_t best = 0;
  const std::string by = doc.value("group_by", "process");
  for (const json& g : doc.value("groups", json::array())) {
    const json& h = g["histograms"][name];
    if (num(h, "count") == 0) continue;
    // An interval's maximum comes from its buckets (the kernel keeps exact ones since attach).
    const uint64_t v = stat == "max" && !h.contains("max") ? num(h, "max_bound") : num(h, stat.c_str());
    if (v > best || (what && what->empty())) {
      best = std::max(best, v);
      if (what && v == best) *what = capture_group_label(g, by);
    }
  }
  return best;
}

}  // namespace aitrace
