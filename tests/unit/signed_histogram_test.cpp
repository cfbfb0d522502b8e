#include "aitrace/output/signed_histogram_render.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

SignedHistogram five() {
  SignedHistogram h;
  for (int64_t v : {-300, -5, 0, 7, 1000}) h.record(v);
  return h;
}

TEST(SignedHistogram, CountsSumMinMax) {
  SignedHistogram h = five();
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.negative_count(), 2u);
  EXPECT_EQ(h.sum(), 702);
  EXPECT_EQ(h.min(), -300);
  EXPECT_EQ(h.max(), 1000);
}

TEST(SignedHistogram, PercentilesSpanTheSign) {
  SignedHistogram h = five();
  EXPECT_EQ(h.percentile(0.0), -300);
  EXPECT_EQ(h.percentile(0.4), -5);
  EXPECT_EQ(h.percentile(0.5), 0);
  EXPECT_EQ(h.percentile(0.8), 7);
  EXPECT_EQ(h.percentile(1.0), 1000);
  SignedHistogram neg;
  neg.record(-10);
  neg.record(-20);
  EXPECT_EQ(neg.max(), -10);
  EXPECT_EQ(neg.min(), -20);
  EXPECT_EQ(neg.percentile(0.5), -20);
  EXPECT_EQ(neg.percentile(1.0), -10);
}

TEST(SignedHistogram, BucketsAscendWithInclusiveUpperBounds) {
  auto b = five().nonzero_buckets();
  ASSERT_EQ(b.size(), 5u);
  // 300 falls in [288, 303]: as a negative value, [-303, -288], upper bound -288.
  EXPECT_EQ(b[0].upper_bound, -288);
  EXPECT_EQ(b[1].upper_bound, -5);
  EXPECT_EQ(b[2].upper_bound, 0);
  EXPECT_EQ(b[3].upper_bound, 7);
  EXPECT_EQ(b[4].upper_bound, 1023);  // 1000 is in [992, 1023]
  for (size_t i = 1; i < b.size(); i++) EXPECT_LT(b[i - 1].upper_bound, b[i].upper_bound);
}

TEST(SignedHistogram, JsonAndText) {
  auto j = signed_histogram_json(five());
  EXPECT_EQ(j["count"], 5);
  EXPECT_EQ(j["negative"], 2);
  EXPECT_EQ(j["min"], -300);
  EXPECT_EQ(j["p50"], 0);
  EXPECT_EQ(j["buckets"][0][0], -288);
  std::string t = signed_histogram_text(five(), "lag");
  EXPECT_NE(t.find("min -300ns"), std::string::npos) << t;
  EXPECT_NE(t.find("-511ns .. -256ns"), std::string::npos) << t;
  EXPECT_EQ(signed_histogram_text(SignedHistogram{}, "lag"), "  lag (count 0)\n");
}

TEST(SignedHistogram, Merge) {
  SignedHistogram a = five(), b;
  b.record(-1);
  a.merge(b);
  EXPECT_EQ(a.count(), 6u);
  EXPECT_EQ(a.negative_count(), 3u);
  EXPECT_EQ(a.sum(), 701);
}

}  // namespace
}  // namespace aitrace
