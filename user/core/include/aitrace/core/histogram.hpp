// The userspace histogram: the same buckets as the in-kernel aggregation (aitrace/histogram.h),
// exact count/sum/min/max, and percentiles interpolated inside a bucket.
#pragma once

#include "aitrace/histogram.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace aitrace {

class Histogram {
 public:
  static constexpr uint32_t kBuckets = AITRACE_HIST_BUCKETS;
  static uint32_t bucket_of(uint64_t v) { return aitrace_hist_bucket(v); }
  static uint64_t bucket_low(uint32_t i) { return aitrace_hist_bucket_low(i); }
  static uint64_t bucket_high(uint32_t i) { return aitrace_hist_bucket_high(i); }

  // An empty histogram for counts aggregated elsewhere (the kernel): its min/max are bucket
  // bounds (exact_min_max() false) even while it is empty, so a report's keys do not depend on
  // whether anything was counted.
  static Histogram bucketed();

  void record(uint64_t value, uint64_t times = 1);
  // Adds counts aggregated elsewhere; from here on min/max are taken from the bucket bounds
  // unless exact ones are supplied with set_exact_min_max().
  void add_bucket(uint32_t bucket, uint64_t count);
  void add_sum(uint64_t sum) { sum_ += sum; }
  void set_exact_min_max(uint64_t min, uint64_t max);
  void merge(const Histogram& other);

  // True when min() and max() are the samples' own values (record(), set_exact_min_max()); false
  // when they are bucket bounds: min() the low edge of the lowest non-empty bucket, max() the
  // (inclusive) high edge of the highest one, each within 1/16 of the true value.
  bool exact_min_max() const { return exact_; }

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return count_ ? max_ : 0; }
  uint64_t bucket_count(uint32_t i) const { return i < kBuckets ? buckets_[i] : 0; }
  // q in [0,1]; nearest-rank, interpolated linearly inside the bucket and clamped to [min,max].
  uint64_t percentile(double q) const;

  struct Bucket {
    uint64_t upper_bound;  // inclusive
    uint64_t count;
  };
  std::vector<Bucket> nonzero_buckets() const;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0, sum_ = 0;
  uint64_t min_ = UINT64_MAX, max_ = 0;
  bool exact_ = true;
};

}  // namespace aitrace
