// aitrace::parse_number and its shapes: the whole text is one number of the type, or nothing.
// atoi and sscanf, which they replaced, read each of the refused cases below as a number.
#include "aitrace/core/parse_number.hpp"
#include "aitrace/doctor/sysinfo_parse.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace aitrace {
namespace {

TEST(ParseNumber, TakesTheWholeTextOrNothing) {
  EXPECT_EQ(parse_number<int>("250"), 250);
  EXPECT_EQ(parse_number<int>("-3"), -3);
  EXPECT_EQ(parse_number<uint64_t>("ffffffff81000000", 16), 0xffffffff81000000u);
  for (const char* bad : {"", " 1", "1 ", "1\n", "12abc", "abc", "+1", "0x10"})
    EXPECT_FALSE(parse_number<int>(bad).has_value()) << "'" << bad << "'";
  // Out of range is refused, not wrapped or clamped.
  EXPECT_FALSE(parse_number<int>("2147483648").has_value());
  EXPECT_EQ(parse_number<int>("2147483647"), 2147483647);
  EXPECT_FALSE(parse_number<uint32_t>("-1").has_value());
}

TEST(ParseNumber, BetweenAPrefixAndASuffix) {
  EXPECT_EQ(parse_number_between<int>("hugepages-2048kB", "hugepages-", "kB"), 2048);
  EXPECT_EQ(parse_number_between<int>("memory_tier4", "memory_tier", ""), 4);
  EXPECT_EQ(parse_number_between<int>("cpu17", "cpu", ""), 17);
  for (const char* bad : {"cpulist", "cpumap", "cpu", "cpu1x", "xcpu1", "cp"})
    EXPECT_FALSE(parse_number_between<int>(bad, "cpu", "").has_value()) << bad;
  EXPECT_FALSE(parse_number_between<int>("hugepages-2048MB", "hugepages-", "kB").has_value());
  EXPECT_FALSE(parse_number_between<int>("hugepages-kB", "hugepages-", "kB").has_value());
}

TEST(ParseNumber, OneValueFilesEndInANewline) {
  EXPECT_EQ(parse_number_line<int>("1\n"), 1);
  EXPECT_EQ(parse_number_line<int>("0"), 0);
  EXPECT_EQ(parse_number_line<uint64_t>("32768\n"), 32768u);
  EXPECT_FALSE(parse_number_line<int>("\n").has_value());
  EXPECT_FALSE(parse_number_line<int>("1 2\n").has_value());
  EXPECT_FALSE(parse_number_line<int>("enabled\n").has_value());
}

TEST(KernelRelease, MajorAndMinorOfUnameReleases) {
  struct Case {
    const char* release;
    int major, minor;
  };
  for (const Case& c : {Case{"6.1.0-27-amd64", 6, 1}, Case{"6.12.38+deb12-cloud-amd64", 6, 12},
                        Case{"6.18.0", 6, 18}, Case{"5.15.0-1051-azure", 5, 15}, Case{"6.6-rc1", 6, 6}}) {
    auto v = parse_release_version(c.release);
    ASSERT_TRUE(v.has_value()) << c.release;
    EXPECT_EQ(v.value().major, c.major) << c.release;
    EXPECT_EQ(v.value().minor, c.minor) << c.release;
  }
  for (const char* bad : {"", "6", "linux-6.1", "6.x", ".1", "6."})
    EXPECT_FALSE(parse_release_version(bad).has_value()) << bad;
  EXPECT_TRUE(parse_release_version("6.6.0").value().at_least(6, 6));
  EXPECT_TRUE(parse_release_version("7.0.0").value().at_least(6, 6));
  EXPECT_FALSE(parse_release_version("6.5.9").value().at_least(6, 6));
  EXPECT_FALSE(parse_release_version("5.11.0").value().at_least(5, 12));
}

}  // namespace
}  // namespace aitrace
