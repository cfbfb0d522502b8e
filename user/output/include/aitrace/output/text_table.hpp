// A terminal table whose columns are as wide as their widest cell (header included), for
// one-row-per-group views (sched's compact report, as `perf sched latency` lays out its tasks).
// Cells are plain text: escape kernel strings (escape_text) before adding them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace aitrace {

class TextTable {
 public:
  enum class Align { left, right };
  // A column: its header and alignment. A column that starts a block is set two spaces apart
  // from the one before it, and the block's title (may be empty) is printed above the block's
  // headers ("runq after wakeup" over its count, p50, p99 and max).
  struct Column {
    std::string header;
    Align align = Align::right;
    bool starts_block = false;
    std::string title;  // of the block this column starts
  };

  explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // One row; missing cells are empty, extra cells are ignored.
  void add_row(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // The title line (when a block has a title), the header line and the rows, each with `indent`
  // spaces before it and without trailing blanks.
  std::string render(size_t indent = 0) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// A duration with three significant digits and its unit, for table cells: 952ns, 1.43us, 15.3us,
// 152us, 2.52ms, 1.20s, 1234s. Percentiles are accurate to a few percent, so more digits would
// claim a precision the buckets do not have; exact values are in --json.
std::string format_ns_short(unsigned long long ns);

}  // namespace aitrace
