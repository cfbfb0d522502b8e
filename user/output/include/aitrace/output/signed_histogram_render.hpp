// Renderings of a SignedHistogram (EEVDF lag): the JSON object and the terminal bars.
#pragma once

#include "aitrace/core/signed_histogram.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace aitrace {

// The "H" object of the JSON schemas with signed sum/min/max/percentiles and bucket bounds,
// plus "negative": how many values were below zero.
nlohmann::json signed_histogram_json(const SignedHistogram& h, std::string_view unit = "ns");
// Title with percentiles, then one bar per power-of-two magnitude, negative rows first.
std::string signed_histogram_text(const SignedHistogram& h, std::string_view title);
// format_ns with a sign.
std::string format_signed_ns(int64_t ns);

}  // namespace aitrace
