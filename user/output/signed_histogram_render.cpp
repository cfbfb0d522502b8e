#include "aitrace/output/signed_histogram_render.hpp"

#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace aitrace {

nlohmann::json signed_histogram_json(const SignedHistogram& h, std::string_view unit) {
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : h.nonzero_buckets()) buckets.push_back({b.upper_bound, b.count});
  return {{"unit", unit},
          {"count", h.count()},
          {"negative", h.negative_count()},
          {"sum", h.sum()},
          {"min", h.count() ? h.min() : 0},
          {"max", h.count() ? h.max() : 0},
          {"p50", h.percentile(0.50)},
          {"p90", h.percentile(0.90)},
          {"p99", h.percentile(0.99)},
          {"p999", h.percentile(0.999)},
          {"buckets", std::move(buckets)}};
}

std::string format_signed_ns(int64_t ns) {
  if (ns < 0) return "-" + format_ns(uint64_t{0} - static_cast<uint64_t>(ns));
  return format_ns(static_cast<uint64_t>(ns));
}

std::string signed_histogram_text(const SignedHistogram& h, std::string_view title) {
  std::string out = fmt::format("  {} (count {}", title, h.count());
  if (!h.count()) return out + ")\n";
  out += fmt::format(", min {}, p50 {}, p90 {}, p99 {}, max {})\n", format_signed_ns(h.min()),
                     format_signed_ns(h.percentile(0.5)), format_signed_ns(h.percentile(0.9)),
                     format_signed_ns(h.percentile(0.99)), format_signed_ns(h.max()));
  // Power-of-two rows by magnitude: negative rows from the largest magnitude down, then >= 0.
  struct Row {
    bool negative;
    unsigned lg;
    uint64_t count;
  };
  std::vector<Row> rows;
  auto add_rows = [&rows](const Histogram& half, bool negative) {
    std::vector<Row> side;
    for (uint32_t i = 0; i < Histogram::kBuckets; i++) {
      uint64_t n = half.bucket_count(i);
      if (!n) continue;
      uint64_t lo = Histogram::bucket_low(i);
      unsigned lg = lo ? aitrace_log2_u64(lo) : 0;
      if (!side.empty() && side.back().lg == lg)
        side.back().count += n;
      else
        side.push_back({negative, lg, n});
    }
    if (negative) std::reverse(side.begin(), side.end());
    rows.insert(rows.end(), side.begin(), side.end());
  };
  add_rows(h.negative_magnitudes(), true);
  add_rows(h.non_negative(), false);
  uint64_t peak = 0;
  for (const auto& r : rows) peak = std::max(peak, r.count);
  constexpr int kWidth = 40;
  for (const auto& r : rows) {
    uint64_t lo = r.lg ? (uint64_t{1} << r.lg) : 0, hi = (uint64_t{1} << (r.lg + 1)) - 1;
    std::string range = r.negative ? fmt::format("-{} .. -{}", format_ns(hi), format_ns(lo))
                                   : fmt::format("{} .. {}", format_ns(lo), format_ns(hi));
    int bar = peak ? static_cast<int>((r.count * kWidth + peak - 1) / peak) : 0;
    out += fmt::format("    {:>22} {:>10} |{:<{}}|\n", range, r.count, std::string(bar, '*'), kWidth);
  }
  return out;
}

}  // namespace aitrace
