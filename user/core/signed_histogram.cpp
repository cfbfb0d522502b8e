#include "aitrace/core/signed_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace aitrace {

void SignedHistogram::record(int64_t value, uint64_t times) {
  if (!times) return;
  (value < 0 ? neg_ : pos_).record(magnitude(value), times);
  sum_ += value * static_cast<int64_t>(times);
}

void SignedHistogram::merge(const SignedHistogram& o) {
  neg_.merge(o.neg_);
  pos_.merge(o.pos_);
  sum_ += o.sum_;
}

int64_t SignedHistogram::min() const {
  if (neg_.count()) return -static_cast<int64_t>(neg_.max());
  return static_cast<int64_t>(pos_.min());
}

int64_t SignedHistogram::max() const {
  if (pos_.count()) return static_cast<int64_t>(pos_.max());
  return -static_cast<int64_t>(neg_.min());
}

int64_t SignedHistogram::percentile(double q) const {
  const uint64_t n = count();
  if (!n) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(n))));
  const uint64_t nneg = neg_.count();
  // Ask each half for one rank: (k - 0.5) / count maps back to exactly rank k inside Histogram.
  if (rank <= nneg) {
    uint64_t k = nneg - rank + 1;  // the k-th smallest magnitude is the rank-th smallest value
    return -static_cast<int64_t>(neg_.percentile((static_cast<double>(k) - 0.5) / static_cast<double>(nneg)));
  }
  uint64_t k = rank - nneg;
  return static_cast<int64_t>(pos_.percentile((static_cast<double>(k) - 0.5) / static_cast<double>(pos_.count())));
}

std::vector<SignedHistogram::Bucket> SignedHistogram::nonzero_buckets() const {
  std::vector<Bucket> out;
  for (uint32_t i = Histogram::kBuckets; i-- > 0;) {
    uint64_t c = neg_.bucket_count(i);
    if (c) out.push_back({-static_cast<int64_t>(Histogram::bucket_low(i)), c});
  }
  for (const auto& b : pos_.nonzero_buckets())
    out.push_back(
        {b.upper_bound > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(b.upper_bound), b.count});
  return out;
}

}  // namespace aitrace
