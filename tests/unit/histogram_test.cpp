#include "aitrace/core/histogram.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace aitrace {
namespace {

uint64_t exact_percentile(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))));
  return v[rank - 1];
}

TEST(HistogramBuckets, SmallValuesAreExact) {
  for (uint64_t v = 0; v < AITRACE_HIST_SUB; v++) {
    EXPECT_EQ(aitrace_hist_bucket(v), v);
    EXPECT_EQ(aitrace_hist_bucket_low(static_cast<uint32_t>(v)), v);
    EXPECT_EQ(aitrace_hist_bucket_high(static_cast<uint32_t>(v)), v);
  }
}

// The branch-free log2 (histogram.h) against the compiler's count of leading zeros: every power
// of two, its neighbours, and random values of every width.
TEST(HistogramBuckets, Log2MatchesCountLeadingZeros) {
  EXPECT_EQ(aitrace_log2_u64(0), 0u);
  for (unsigned k = 0; k < 64; k++) {
    const uint64_t p = 1ull << k;
    ASSERT_EQ(aitrace_log2_u64(p), k);
    ASSERT_EQ(aitrace_log2_u64(p | (p - 1)), k);
    if (k) {
      ASSERT_EQ(aitrace_log2_u64(p - 1), k - 1);
    }
  }
  std::mt19937_64 rng(3);  // NOLINT(bugprone-random-generator-seed): fixed, so a failure reproduces
  for (int i = 0; i < 200000; i++) {
    const uint64_t v = (rng() >> (rng() % 64)) | 1;
    ASSERT_EQ(aitrace_log2_u64(v), 63u - static_cast<unsigned>(__builtin_clzll(v))) << v;
  }
}

TEST(HistogramBuckets, EveryValueLiesInsideItsBucketAndBucketsAreNarrow) {
  std::mt19937_64 rng(42);  // NOLINT(bugprone-random-generator-seed): fixed, so a failure reproduces
  for (int i = 0; i < 200000; i++) {
    uint64_t v = rng() >> (rng() % 64);
    uint32_t b = aitrace_hist_bucket(v);
    if (b == AITRACE_HIST_BUCKETS - 1) continue;  // the open-ended overflow bucket
    ASSERT_LE(aitrace_hist_bucket_low(b), v) << v;
    ASSERT_GE(aitrace_hist_bucket_high(b), v) << v;
    // Width at most 1/16 of the lower bound: percentiles accurate to a few percent.
    uint64_t lo = aitrace_hist_bucket_low(b), hi = aitrace_hist_bucket_high(b);
    ASSERT_LE(hi - lo + 1, std::max<uint64_t>(1, lo / AITRACE_HIST_SUB)) << v;
  }
}

TEST(HistogramBuckets, BoundariesAreContiguousAndMonotonic) {
  for (uint32_t b = 1; b + 1 < AITRACE_HIST_BUCKETS; b++) {
    ASSERT_EQ(aitrace_hist_bucket_low(b), aitrace_hist_bucket_high(b - 1) + 1) << b;
    ASSERT_EQ(aitrace_hist_bucket(aitrace_hist_bucket_low(b)), b);
    ASSERT_EQ(aitrace_hist_bucket(aitrace_hist_bucket_high(b)), b);
  }
}

TEST(HistogramBuckets, HugeValuesLandInTheLastBucket) {
  EXPECT_EQ(aitrace_hist_bucket(UINT64_MAX), AITRACE_HIST_BUCKETS - 1);
  EXPECT_EQ(aitrace_hist_bucket(1ull << AITRACE_HIST_MAX_LOG2), AITRACE_HIST_BUCKETS - 1);
}

TEST(HistogramPercentiles, MatchExactPercentilesWithinThreePercent) {
  std::mt19937_64 rng(7);  // NOLINT(bugprone-random-generator-seed): fixed, so a failure reproduces
  std::lognormal_distribution<double> dist(10.0, 1.5);  // ~22us median, long tail
  std::vector<uint64_t> samples;
  Histogram h;
  for (int i = 0; i < 100000; i++) {
    auto v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double exact = static_cast<double>(exact_percentile(samples, q));
    double got = static_cast<double>(h.percentile(q));
    EXPECT_NEAR(got, exact, exact * 0.03) << "q=" << q;
  }
  EXPECT_EQ(h.max(), *std::max_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.min(), *std::min_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.percentile(1.0), h.max());
}

TEST(HistogramPercentiles, KnownSmallSample) {
  Histogram h;
  for (uint64_t v : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 5u);   // exact below 16
  EXPECT_EQ(h.percentile(0.9), 9u);
  EXPECT_EQ(h.percentile(0.99), 10u);
  EXPECT_EQ(h.sum(), 55u);
  EXPECT_EQ(h.count(), 10u);
}

TEST(HistogramPercentiles, SingleValueIsReportedExactly) {
  Histogram h;
  h.record(123456789, 1000);
  EXPECT_EQ(h.percentile(0.5), 123456789u);
  EXPECT_EQ(h.percentile(0.999), 123456789u);
}

TEST(HistogramPercentiles, EmptyHistogramIsZero) {
  Histogram h;
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(HistogramMerge, KernelBucketsAndRecordedValuesAgree) {
  Histogram recorded, from_buckets;
  for (uint64_t v : {100, 2000, 2001, 50000, 7000000}) {
    recorded.record(v);
    from_buckets.add_bucket(Histogram::bucket_of(v), 1);
  }
  from_buckets.add_sum(recorded.sum());
  from_buckets.set_exact_min_max(recorded.min(), recorded.max());
  EXPECT_EQ(recorded.nonzero_buckets().size(), from_buckets.nonzero_buckets().size());
  EXPECT_EQ(recorded.percentile(0.5), from_buckets.percentile(0.5));
  Histogram both = recorded;
  both.merge(from_buckets);
  EXPECT_EQ(both.count(), 10u);
  EXPECT_EQ(both.sum(), 2 * recorded.sum());
}

TEST(HistogramRender, JsonHasTheContractFields) {
  Histogram h;
  h.record(1500);
  h.record(3000);
  auto j = histogram_json(h);
  for (const char* k : {"unit", "count", "sum", "min", "max", "p50", "p90", "p99", "p999", "buckets"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["sum"], 4500);
  ASSERT_EQ(j["buckets"].size(), 2u);
  EXPECT_GE(j["buckets"][0][0].get<uint64_t>(), 1500u);
  EXPECT_EQ(j["buckets"][0][1], 1);
}

// min/max are the samples' own values or else named as bucket bounds, in every document.
TEST(HistogramRender, BucketBoundsAreNamedAsSuch) {
  Histogram empty = Histogram::bucketed();
  auto e = histogram_json(empty);
  EXPECT_TRUE(e.contains("min_bound") && e.contains("max_bound")) << "even empty: keys do not depend on counts";
  EXPECT_FALSE(e.contains("min") || e.contains("max")) << e.dump();
  Histogram h = Histogram::bucketed();
  h.add_bucket(aitrace_hist_bucket(5000), 2);
  auto j = histogram_json(h);
  EXPECT_EQ(j["min_bound"].get<uint64_t>(), aitrace_hist_bucket_low(aitrace_hist_bucket(5000)));
  EXPECT_EQ(j["max_bound"].get<uint64_t>(), aitrace_hist_bucket_high(aitrace_hist_bucket(5000)));
  EXPECT_LE(j["min_bound"].get<uint64_t>(), 5000u);
  EXPECT_GE(j["max_bound"].get<uint64_t>(), 5000u);
  EXPECT_NE(histogram_text(h, "x").find("max <="), std::string::npos) << histogram_text(h, "x");
  h.set_exact_min_max(4990, 5010);
  auto exact = histogram_json(h);
  EXPECT_EQ(exact["min"], 4990);
  EXPECT_EQ(exact["max"], 5010);
  EXPECT_FALSE(exact.contains("max_bound"));
  Histogram recorded;
  recorded.record(7);
  Histogram merged = recorded;
  merged.merge(Histogram::bucketed());
  EXPECT_TRUE(merged.exact_min_max()) << "an empty bucketed part adds no bounds";
}

TEST(HistogramRender, TextShowsPercentilesAndBars) {
  Histogram h;
  for (int i = 0; i < 100; i++) h.record(1000 + i);
  h.record(1000000);
  std::string t = histogram_text(h, "runq_wakeup");
  EXPECT_NE(t.find("runq_wakeup (count 101, p50"), std::string::npos) << t;
  EXPECT_NE(t.find("|****************************************|"), std::string::npos) << t;
  EXPECT_NE(t.find("1.00ms"), std::string::npos) << t;
}

TEST(HistogramRender, FormatNs) {
  EXPECT_EQ(format_ns(999), "999ns");
  EXPECT_EQ(format_ns(1500), "1.5us");
  EXPECT_EQ(format_ns(2500000), "2.50ms");
  EXPECT_EQ(format_ns(3000000000ull), "3.00s");
}

}  // namespace
}  // namespace aitrace
