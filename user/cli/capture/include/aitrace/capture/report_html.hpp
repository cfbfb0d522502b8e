// report.html of an incident bundle: one self-contained page (inline CSS and SVG, no script, no
// external reference) drawn from summary.json and the doctor document, so a dump of the flight
// recorder and a capture render the same way.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace aitrace {

struct ReportHtmlInput {
  const nlohmann::json& summary;      // capture_summary()
  const nlohmann::json& environment;  // the doctor document
  std::string flame_svg;              // offcpu's flame graph (an SVG document); empty: none
  size_t top = 10;                    // groups with plotted histograms and series lines (5 at most)
};

// Every histogram of the report (each collector's `H` objects, sched's first `top` groups) is
// plotted as a <figure class="hist" data-hist="COLLECTOR/JSON/PATH">: the path names the object
// in summary.json's `collectors` (tests match the two).
std::string report_html(const ReportHtmlInput& in);

}  // namespace aitrace
