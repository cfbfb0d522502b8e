#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace aitrace {

nlohmann::json histogram_json(const Histogram& h, std::string_view unit) {
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : h.nonzero_buckets()) buckets.push_back({b.upper_bound, b.count});
  return {{"unit", unit},          {"count", h.count()},           {"sum", h.sum()},
          {"min", h.min()},        {"max", h.max()},               {"p50", h.percentile(0.50)},
          {"p90", h.percentile(0.90)}, {"p99", h.percentile(0.99)}, {"p999", h.percentile(0.999)},
          {"buckets", std::move(buckets)}};
}

std::string format_ns(uint64_t ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  if (ns < 1000000) return fmt::format("{:.1f}us", ns / 1e3);
  if (ns < 1000000000) return fmt::format("{:.2f}ms", ns / 1e6);
  return fmt::format("{:.2f}s", ns / 1e9);
}

std::string histogram_text(const Histogram& h, std::string_view title, std::string_view unit) {
  const bool ns = unit == "ns";
  auto val = [&](uint64_t v) { return ns ? format_ns(v) : fmt::format("{}", v); };
  std::string out = fmt::format("  {} (count {}", title, h.count());
  if (!h.count()) return out + ")\n";
  out += fmt::format(", p50 {}, p90 {}, p99 {}, p99.9 {}, max {})\n", val(h.percentile(0.5)), val(h.percentile(0.9)),
                     val(h.percentile(0.99)), val(h.percentile(0.999)), val(h.max()));
  // Collapse the fine buckets into power-of-two rows.
  std::vector<std::pair<unsigned, uint64_t>> rows;  // log2 of the row's lower bound, count
  for (uint32_t i = 0; i < Histogram::kBuckets; i++) {
    uint64_t n = h.bucket_count(i);
    if (!n) continue;
    uint64_t lo = Histogram::bucket_low(i);
    unsigned lg = lo ? aitrace_log2_u64(lo) : 0;
    if (!rows.empty() && rows.back().first == lg)
      rows.back().second += n;
    else
      rows.emplace_back(lg, n);
  }
  uint64_t peak = 0;
  for (auto& r : rows) peak = std::max(peak, r.second);
  constexpr int kWidth = 40;
  unsigned first = rows.front().first, last = rows.back().first;
  size_t ri = 0;
  for (unsigned lg = first; lg <= last; lg++) {
    uint64_t n = ri < rows.size() && rows[ri].first == lg ? rows[ri++].second : 0;
    uint64_t lo = lg ? (uint64_t{1} << lg) : 0, hi = (uint64_t{1} << (lg + 1)) - 1;
    int bar = peak ? static_cast<int>((n * kWidth + peak - 1) / peak) : 0;
    out += fmt::format("    {:>9} .. {:<9} {:>10} |{:<{}}|\n", val(lo), val(hi), n, std::string(bar, '*'), kWidth);
  }
  return out;
}

}  // namespace aitrace
