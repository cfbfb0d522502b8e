#include "aitrace/capture/svg_plot.hpp"

#include "aitrace/capture/capture_summary.hpp"

#include "aitrace/histogram.h"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace aitrace {
namespace {

using nlohmann::json;

constexpr int kWidth = 640, kHeight = 200;
constexpr int kLeft = 56, kRight = 16, kTop = 28, kBottom = 34;
constexpr std::array<const char*, 6> kColors = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"};

uint64_t value_of(const json& h, const char* key, const char* bound) {
  if (h.contains(key) && h[key].is_number_unsigned()) return h[key].get<uint64_t>();
  return h.contains(bound) && h[bound].is_number_unsigned() ? h[bound].get<uint64_t>() : 0;
}

// Decade ticks (1us, 10us, ...) between lo and hi on a log axis.
std::string log_ticks(double lo, double hi, double x0, double w, double y) {
  std::string out;
  // Decades by exponent: a float loop counter would accumulate rounding.
  for (int e = static_cast<int>(std::floor(std::log10(lo))); e <= static_cast<int>(std::ceil(std::log10(hi))); e++) {
    const double t = std::pow(10.0, e);
    if (t < lo || t > hi * 1.0001) continue;
    const double x = x0 + (std::log10(t) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * w;
    out += fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" class="grid"/>)", x, kTop, y);
    out += fmt::format(R"(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{}</text>)", x, y + 14,
                       format_ns(static_cast<uint64_t>(t)));
  }
  return out;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string histogram_svg(const json& h, const std::string& title) {
  const json buckets = h.value("buckets", json::array());
  if (buckets.empty() || num(h, "count") == 0) return {};
  struct Bar {
    double lo, hi;
    uint64_t n;
  };
  std::vector<Bar> bars;
  uint64_t top = 0;
  for (const json& b : buckets) {
    const uint64_t upper = b[0].get<uint64_t>(), n = b[1].get<uint64_t>();
    const uint64_t low = aitrace_hist_bucket_low(aitrace_hist_bucket(upper));
    bars.push_back({static_cast<double>(std::max<uint64_t>(low, 1)), static_cast<double>(upper + 1), n});
    top = std::max(top, n);
  }
  // The axis spans whole decades around the samples, so plots of one report compare by eye.
  const double lo = std::pow(10.0, std::floor(std::log10(bars.front().lo)));
  const double hi = std::pow(10.0, std::ceil(std::log10(bars.back().hi)));
  const double w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom, base = kTop + plot_h;
  auto x_of = [&](double v) { return kLeft + (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * w; };
  std::string out = fmt::format(
      R"(<svg class="plot" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img"><title>{2}</title>)", kWidth,
      kHeight, html_escape(title));
  out += fmt::format(R"(<text x="{}" y="16" class="ptitle">{} ({} samples)</text>)", kLeft, html_escape(title),
                     num(h, "count"));
  out += log_ticks(lo, hi, kLeft, w, base);
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" class="axis"/>)", kLeft, base, kLeft + w);
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", kLeft - 4, kTop + 8, top);
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">0</text>)", kLeft - 4, base);
  for (const Bar& b : bars) {
    const double x = x_of(b.lo), bw = std::max(1.0, x_of(b.hi) - x);
    const double bh = plot_h * static_cast<double>(b.n) / static_cast<double>(top);
    out += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="bar"><title>{}..{}: {}</title></rect>)",
                       x, base - bh, bw, bh, format_ns(static_cast<uint64_t>(b.lo)),
                       format_ns(static_cast<uint64_t>(b.hi)), b.n);
  }
  struct Mark {
    const char* name;
    uint64_t v;
  };
  const std::array<Mark, 5> marks = {{{"p50", value_of(h, "p50", "p50")},
                                      {"p90", value_of(h, "p90", "p90")},
                                      {"p99", value_of(h, "p99", "p99")},
                                      {"p99.9", value_of(h, "p999", "p999")},
                                      {"max", value_of(h, "max", "max_bound")}}};
  for (size_t i = 0; i < marks.size(); i++) {
    if (!marks[i].v) continue;
    const double x = x_of(std::clamp(static_cast<double>(marks[i].v), lo, hi));
    out += fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" class="mark m{3}"/>)", x, kTop, base, i);
    // Labels alternate between two rows, so close percentiles stay legible.
    out += fmt::format(R"(<text x="{:.1f}" y="{}" class="mlabel m{}" text-anchor="middle">{} {}</text>)", x,
                       kTop - 2 + (i % 2) * 10 + 8, i, marks[i].name, format_ns(marks[i].v));
  }
  return out + "</svg>";
}

std::string series_svg(const std::vector<SeriesLine>& lines, double x_max_s, const std::string& title) {
  uint64_t top = 1;
  for (const auto& l : lines)
    for (const auto& [x, v] : l.points) top = std::max(top, v);
  const double w = kWidth - kLeft - kRight - 150, plot_h = kHeight - kTop - kBottom, base = kTop + plot_h;
  const double span = std::max(x_max_s, 1e-3);
  std::string out = fmt::format(
      R"(<svg class="plot" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img"><title>{2}</title>)", kWidth,
      kHeight, html_escape(title));
  out += fmt::format(R"(<text x="{}" y="16" class="ptitle">{}</text>)", kLeft, html_escape(title));
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" class="axis"/>)", kLeft, base, kLeft + w);
  for (int i = 0; i <= 4; i++) {
    const double y = base - plot_h * i / 4;
    out += fmt::format(R"(<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{1:.1f}" class="grid"/>)", kLeft, y, kLeft + w);
    out += fmt::format(R"(<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>)", kLeft - 4, y + 4,
                       format_ns(top * static_cast<uint64_t>(i) / 4));
  }
  out += fmt::format(R"(<text x="{}" y="{}" class="tick">0s</text><text x="{}" y="{}" class="tick" text-anchor="end">{:.1f}s</text>)",
                     kLeft, base + 14, kLeft + w, base + 14, span);
  for (size_t i = 0; i < lines.size(); i++) {
    const char* color = kColors[i % kColors.size()];
    std::string pts;
    for (const auto& [x, v] : lines[i].points)
      pts += fmt::format("{:.1f},{:.1f} ", kLeft + x / span * w, base - plot_h * static_cast<double>(v) / static_cast<double>(top));
    out += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>)", pts, color);
    for (const auto& [x, v] : lines[i].points)
      out += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2" fill="{}"><title>{}: {} at {:.1f}s</title></circle>)",
                         kLeft + x / span * w, base - plot_h * static_cast<double>(v) / static_cast<double>(top), color,
                         html_escape(lines[i].name), format_ns(v), x);
    out += fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" class="tick">{}</text>)",
                       kLeft + w + 10, kTop + 14 * i, color, kLeft + w + 24, kTop + 14 * i + 9,
                       html_escape(lines[i].name.substr(0, 24)));
  }
  return out + "</svg>";
}

}  // namespace aitrace
