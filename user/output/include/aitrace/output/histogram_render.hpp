// Renderings of a Histogram shared by every collector: the JSON object "H" (docs/sched.md,
// `histograms.*`; the same in every collector's schema), and the terminal bars with percentiles.
#pragma once

#include "aitrace/core/histogram.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace aitrace {

// {"unit":..,"count","sum","min","max","p50","p90","p99","p999","buckets":[[upper_bound,count],..]};
// `min_bound`/`max_bound` in place of `min`/`max` when they are bucket bounds
// (Histogram::exact_min_max()).
nlohmann::json histogram_json(const Histogram& h, std::string_view unit = "ns");
// Human duration: 950ns, 12.3us, 4.56ms, 1.20s.
std::string format_ns(uint64_t ns);
// Title line with count and percentiles, then one bar per power of two (the classic log2 view).
std::string histogram_text(const Histogram& h, std::string_view title, std::string_view unit = "ns");

}  // namespace aitrace
