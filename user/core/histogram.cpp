#include "aitrace/core/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace aitrace {

Histogram Histogram::bucketed() {
  Histogram h;
  h.exact_ = false;
  return h;
}

void Histogram::record(uint64_t value, uint64_t times) {
  if (!times) return;
  buckets_[bucket_of(value)] += times;
  count_ += times;
  sum_ += value * times;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::add_bucket(uint32_t bucket, uint64_t count) {
  exact_ = false;
  if (!count || bucket >= kBuckets) return;
  buckets_[bucket] += count;
  count_ += count;
  min_ = std::min(min_, bucket_low(bucket));
  max_ = std::max(max_, bucket == kBuckets - 1 ? bucket_low(bucket) : bucket_high(bucket));
}

void Histogram::set_exact_min_max(uint64_t min, uint64_t max) {
  min_ = min;
  max_ = max;
  exact_ = true;
}

void Histogram::merge(const Histogram& o) {
  // An empty side adds no min/max, so it leaves the other side's kind as it is.
  if (o.count_) exact_ = count_ ? exact_ && o.exact_ : o.exact_;
  for (uint32_t i = 0; i < kBuckets; i++) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  if (o.count_) {
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
}

uint64_t Histogram::percentile(double q) const {
  if (!count_) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank >= count_) return max_;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kBuckets; i++) {
    uint64_t n = buckets_[i];
    if (!n || seen + n < rank) {
      seen += n;
      continue;
    }
    uint64_t lo = std::max(bucket_low(i), min_);
    uint64_t hi = std::min(i == kBuckets - 1 ? max_ : bucket_high(i), max_);
    if (hi <= lo) return lo;
    // Spread the bucket's samples evenly over [lo, hi]: the k-th of n sits at lo + (k-0.5)/n.
    double frac = (static_cast<double>(rank - seen) - 0.5) / static_cast<double>(n);
    return lo + static_cast<uint64_t>(std::llround(frac * static_cast<double>(hi - lo)));
  }
  return max_;
}

std::vector<Histogram::Bucket> Histogram::nonzero_buckets() const {
  std::vector<Bucket> out;
  for (uint32_t i = 0; i < kBuckets; i++)
    if (buckets_[i]) out.push_back({bucket_high(i), buckets_[i]});
  return out;
}

}  // namespace aitrace
