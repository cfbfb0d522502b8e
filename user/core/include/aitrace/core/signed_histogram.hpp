// A histogram of signed values (EEVDF lag: negative = the task got more than its share) built
// from two aitrace::Histogram halves: magnitudes of negative values, and non-negative values.
// Same log-linear buckets on each side, so precision is the same as the unsigned histograms.
#pragma once

#include "aitrace/core/histogram.hpp"

#include <cstdint>
#include <vector>

namespace aitrace {

class SignedHistogram {
 public:
  void record(int64_t value, uint64_t times = 1);
  void merge(const SignedHistogram& other);

  uint64_t count() const { return neg_.count() + pos_.count(); }
  uint64_t negative_count() const { return neg_.count(); }
  int64_t sum() const { return sum_; }
  int64_t min() const;
  int64_t max() const;
  // q in [0,1], nearest rank over all values, interpolated inside a bucket like Histogram.
  int64_t percentile(double q) const;

  const Histogram& negative_magnitudes() const { return neg_; }
  const Histogram& non_negative() const { return pos_; }

  struct Bucket {
    int64_t upper_bound;  // inclusive, ascending over the whole signed range
    uint64_t count;
  };
  std::vector<Bucket> nonzero_buckets() const;

 private:
  static uint64_t magnitude(int64_t v) {
    return v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  }
  Histogram neg_, pos_;
  int64_t sum_ = 0;
};

}  // namespace aitrace
