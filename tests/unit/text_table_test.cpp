// The column-sized terminal table and the three-digit durations of its cells.
#include "aitrace/output/text_table.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

TEST(TextTable, ColumnsAreAsWideAsTheirWidestCellAndBlocksHaveTitles) {
  using A = TextTable::Align;
  TextTable t({{"PID", A::right}, {"COMM", A::left}, {"n", A::right, true, "runq after wakeup"}, {"max", A::right}});
  t.add_row({"1", "init", "12", "1.43us"});
  t.add_row({"12345", "a b", "7", "-"});
  EXPECT_EQ(t.render(),
            "            runq after wakeup\n"
            "  PID COMM   n            max\n"
            "    1 init  12         1.43us\n"
            "12345 a b    7              -\n")
      << "the title widened the block's last column; left cells are padded, lines end without blanks";
}

TEST(TextTable, ATableWithoutTitlesHasOnlyTheHeaderLine) {
  TextTable t({{"a", TextTable::Align::left}, {"bb", TextTable::Align::right}});
  t.add_row({"xyz", "1"});
  EXPECT_EQ(t.render(2), "  a   bb\n  xyz  1\n");
}

TEST(FormatNsShort, ThreeSignificantDigitsAndTheUnit) {
  EXPECT_EQ(format_ns_short(0), "0ns");
  EXPECT_EQ(format_ns_short(999), "999ns");
  EXPECT_EQ(format_ns_short(1000), "1.00us");
  EXPECT_EQ(format_ns_short(1434), "1.43us");
  EXPECT_EQ(format_ns_short(15349), "15.3us");
  EXPECT_EQ(format_ns_short(152400), "152us");
  EXPECT_EQ(format_ns_short(999700), "1.00ms") << "rounds up into the next unit, never 1000us";
  EXPECT_EQ(format_ns_short(2524000), "2.52ms");
  EXPECT_EQ(format_ns_short(1200000000), "1.20s");
  EXPECT_EQ(format_ns_short(1234000000000ull), "1234s");
}

}  // namespace
}  // namespace aitrace
