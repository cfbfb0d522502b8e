#include "aitrace/output/flame_svg.hpp"

#include "aitrace/output/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

namespace aitrace {
namespace {

struct Node {
  uint64_t value = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // alphabetical, as flamegraph.pl
};

size_t depth_of(const Node& n) {
  size_t d = 0;
  for (const auto& [name, c] : n.children) d = std::max(d, depth_of(*c) + 1);
  return d;
}

// A warm colour that depends only on the name, so one function has one colour in every graph.
std::string colour(const std::string& name) {
  const size_t h = std::hash<std::string>{}(name);
  return fmt::format("rgb({},{},{})", 205 + h % 50, 60 + (h >> 8) % 150, (h >> 16) % 55);
}

struct Writer {
  const FlameGraphOptions& o;
  double scale;  // pixels per value unit
  uint64_t total;
  int bottom;    // y of the root row's top edge
  std::string out;

  void frame(const std::string& name, uint64_t value, double x, size_t level) {
    const double w = static_cast<double>(value) * scale;
    const int y = bottom - static_cast<int>(level) * o.frame_height;
    const double share = total ? 100.0 * static_cast<double>(value) / static_cast<double>(total) : 0.0;
    const std::string label = xml_escape(name);
    const std::string unit = o.unit.empty() ? "" : " " + xml_escape(o.unit);
    out += fmt::format("<g><title>{} ({}{}, {:.2f}%)</title>", label, value, unit, share);
    out += fmt::format(R"(<rect x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}" rx="2"/>)", x, y, w,
                       o.frame_height - 1, colour(name));
    // About 7 px per character at 12 px: names that do not fit are cut with "..".
    const auto fits = static_cast<size_t>(std::max(0.0, (w - 6) / 7));
    if (fits >= 3) {
      const std::string shown = name.size() <= fits ? name : name.substr(0, fits - 2) + "..";
      out += fmt::format(R"(<text x="{:.1f}" y="{}">{}</text>)", x + 3, y + o.frame_height - 4, xml_escape(shown));
    }
    out += "</g>\n";
  }

  void children(const Node& n, double x, size_t level) {
    for (const auto& [name, c] : n.children) {
      if (static_cast<double>(c->value) * scale >= 0.1) {
        frame(name, c->value, x, level);
        children(*c, x, level + 1);
      }
      x += static_cast<double>(c->value) * scale;
    }
  }
};

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : escape_text(s)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string flame_graph_svg(const std::vector<FlamePath>& paths, const FlameGraphOptions& o) {
  Node root;
  for (const FlamePath& p : paths) {
    if (!p.value || p.frames.empty()) continue;
    root.value += p.value;
    Node* n = &root;
    for (const std::string& f : p.frames) {
      auto& c = n->children[f];
      if (!c) c = std::make_unique<Node>();
      c->value += p.value;
      n = c.get();
    }
  }
  // The subtitle wrapped at ", " to the width (about 7 px per character at 12 px).
  std::vector<std::string> sub;
  const size_t per_line = static_cast<size_t>(std::max(20, (o.width - 20) / 7));
  for (size_t at = 0; at < o.subtitle.size();) {
    size_t end = std::min(o.subtitle.size(), at + per_line);
    if (end < o.subtitle.size()) {
      const size_t comma = o.subtitle.rfind(", ", end);
      if (comma != std::string::npos && comma > at) end = comma + 1;
    }
    sub.push_back(o.subtitle.substr(at, end - at));
    at = end;
    while (at < o.subtitle.size() && o.subtitle[at] == ' ') at++;
  }
  const int pad = 10, header = 34 + 16 * static_cast<int>(sub.size());
  const size_t levels = depth_of(root) + 1;  // + the "all" row
  const int height = header + static_cast<int>(levels) * o.frame_height + pad;
  Writer w{o, root.value ? static_cast<double>(o.width - 2 * pad) / static_cast<double>(root.value) : 0.0,
           root.value, height - pad - o.frame_height, {}};
  w.out += fmt::format(
      R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?>)"
      "\n"
      R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{}" height="{}" viewBox="0 0 {} {}">)"
      "\n<style>text {{ font-family: monospace; font-size: 12px; fill: #000; }}</style>\n"
      R"(<rect x="0" y="0" width="100%" height="100%" fill="#f8f8f0"/>)"
      "\n",
      o.width, height, o.width, height);
  w.out += fmt::format(R"(<text x="{}" y="22" text-anchor="middle" style="font-size:16px">{}</text>)"
                       "\n",
                       o.width / 2, xml_escape(o.title));
  for (size_t i = 0; i < sub.size(); i++)
    w.out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)"
                         "\n",
                         o.width / 2, 40 + 16 * static_cast<int>(i), xml_escape(sub[i]));
  if (root.value) {
    w.frame("all", root.value, pad, 0);
    w.children(root, pad, 1);
  } else {
    w.out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">no samples</text>)"
                         "\n",
                         o.width / 2, height / 2);
  }
  w.out += "</svg>\n";
  return w.out;
}

}  // namespace aitrace
