// A flame graph as one self-contained SVG document: no script, no external reference; each
// frame's <title> is its tooltip (name, value, share). Frame names are untrusted (kernel and
// process symbol names): they are escaped for text and then for XML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aitrace {

struct FlamePath {
  std::vector<std::string> frames;  // root first
  uint64_t value = 0;
};

struct FlameGraphOptions {
  std::string title = "Flame graph";
  std::string subtitle;  // a line under the title (e.g. the drops)
  std::string unit;      // of the values, in tooltips
  int width = 1200;
  int frame_height = 16;
};

std::string flame_graph_svg(const std::vector<FlamePath>& paths, const FlameGraphOptions& o);

// &, <, >, " and ' as entities, after escape_text() (XML 1.0 allows no control bytes at all).
std::string xml_escape(std::string_view s);

}  // namespace aitrace
