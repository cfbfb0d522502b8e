// The report's plots as inline SVG (no script, no external reference): a latency histogram on a
// logarithmic time axis with its percentiles marked, and per-interval series of p99 waits.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace aitrace {

// `h` is a report's histogram object (docs/json.md, "H": buckets as [upper bound, count]);
// `title` is shown above the plot. Bars span each log-linear bucket; dashed lines mark p50, p90,
// p99, p99.9 and the maximum. Empty string for an empty histogram.
std::string histogram_svg(const nlohmann::json& h, const std::string& title);

struct SeriesLine {
  std::string name;
  std::vector<std::pair<double, uint64_t>> points;  // seconds since the start, ns
};
// Lines of p99 waits over the run (a gap where a group had no point); x in seconds.
std::string series_svg(const std::vector<SeriesLine>& lines, double x_max_s, const std::string& title);

// &, <, >, " and ' as entities (for text already escaped with escape_text, or plain ASCII).
std::string html_escape(const std::string& s);

}  // namespace aitrace
