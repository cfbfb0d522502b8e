#include "aitrace/output/text_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace aitrace {

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string TextTable::render(size_t indent) const {
  const size_t n = columns_.size();
  std::vector<size_t> width(n);
  for (size_t c = 0; c < n; c++) {
    width[c] = columns_[c].header.size();
    for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
  }
  auto block_end = [&](size_t c) {
    size_t end = c + 1;
    while (end < n && !columns_[end].starts_block) end++;
    return end;
  };
  auto block_width = [&](size_t c, size_t end) {
    size_t w = end - c - 1;  // the single spaces between the block's columns
    for (size_t k = c; k < end; k++) w += width[k];
    return w;
  };
  // A title wider than its block widens the block's last column.
  bool titles = false;
  for (size_t c = 0; c < n; c++) {
    if (!columns_[c].starts_block || columns_[c].title.empty()) continue;
    titles = true;
    const size_t end = block_end(c), w = block_width(c, end);
    if (columns_[c].title.size() > w) width[end - 1] += columns_[c].title.size() - w;
  }
  auto finish = [](std::string s) {
    s.erase(s.find_last_not_of(' ') + 1);
    return s + "\n";
  };
  auto gap = [&](size_t c) { return c == 0 ? "" : columns_[c].starts_block ? "  " : " "; };
  std::string out;
  if (titles) {
    std::string s(indent, ' ');
    for (size_t c = 0; c < n;) {
      if (!columns_[c].starts_block) {
        s += gap(c) + std::string(width[c], ' ');
        c++;
        continue;
      }
      const size_t end = block_end(c);
      s += gap(c) + fmt::format("{:<{}}", columns_[c].title, block_width(c, end));
      c = end;
    }
    out += finish(s);
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s(indent, ' ');
    for (size_t c = 0; c < n; c++) {
      s += gap(c);
      s += columns_[c].align == Align::left ? fmt::format("{:<{}}", cells[c], width[c])
                                            : fmt::format("{:>{}}", cells[c], width[c]);
    }
    return finish(s);
  };
  std::vector<std::string> headers;
  headers.reserve(n);
  for (const auto& col : columns_) headers.push_back(col.header);
  out += line(headers);
  for (const auto& r : rows_) out += line(r);
  return out;
}

std::string format_ns_short(unsigned long long ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  struct Unit {
    double scale;
    const char* name;
  };
  static constexpr std::array<Unit, 3> kUnits = {{{1e3, "us"}, {1e6, "ms"}, {1e9, "s"}}};
  for (size_t u = 0; u < kUnits.size(); u++) {
    const double v = static_cast<double>(ns) / kUnits[u].scale;
    const int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
    std::string s = fmt::format("{:.{}f}", v, decimals);
    // 999.7us rounds to "1000": the next unit says it in three digits (1.00ms).
    if (u + 1 < kUnits.size() && std::stod(s) >= 1000) continue;
    return s + kUnits[u].name;
  }
  return {};  // not reached: seconds take any magnitude
}

}  // namespace aitrace
