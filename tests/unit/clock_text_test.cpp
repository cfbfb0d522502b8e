// Wall-clock spans in text headers: local time, cut to the second, the date when asked for and
// again for an end on another day.
#include "aitrace/output/clock_text.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <string>

namespace aitrace {
namespace {

// The spans are local time; these cases pin the zone and put the caller's back.
class ClockText : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    had_tz_ = tz != nullptr;
    if (had_tz_) saved_ = tz;
  }
  void TearDown() override {
    if (had_tz_)
      setenv("TZ", saved_.c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  static void zone(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }
  bool had_tz_ = false;
  std::string saved_;
};

constexpr int64_t kSecond = 1'000'000'000;

TEST_F(ClockText, SpanIsCutToTheSecond) {
  zone("UTC0");
  // 2026-12-06 11:15:39.999 .. 11:15:42.001 UTC
  const int64_t start = 1796555739LL * kSecond + 999'000'000, end = 1796555742LL * kSecond + 1'000'000;
  EXPECT_EQ(clock_span_text(start, end, false), "11:15:39..11:15:42");
  EXPECT_EQ(clock_span_text(start, end, true), "2026-12-06 11:15:39..11:15:42 +0000");
  EXPECT_EQ(clock_date_text(start), "2026-12-06");
}

TEST_F(ClockText, LocalTimeWithItsOffsetAndADayChange) {
  zone("CET-1");  // UTC+1, no daylight saving
  const int64_t start = 1796601599LL * kSecond;  // 2026-12-06 23:59:59 UTC = 2026-12-07 00:59:59 CET
  EXPECT_EQ(clock_span_text(start, start + kSecond, true), "2026-12-07 00:59:59..01:00:00 +0100");
  zone("UTC0");
  EXPECT_EQ(clock_span_text(start, start + kSecond, true), "2026-12-06 23:59:59..2026-12-07 00:00:00 +0000");
}

TEST_F(ClockText, BeforeTheEpochFloorsToTheSecond) {
  zone("UTC0");
  EXPECT_EQ(clock_span_text(-1, 0, false), "23:59:59..00:00:00");
}

}  // namespace
}  // namespace aitrace
