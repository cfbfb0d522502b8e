// One thread's lag samples at switch-out. A SignedHistogram is ~11 KB (two halves of fixed
// buckets), and most threads of a fork storm or a thread pool's churn switch out a few times in
// their life; the summary holds every live thread and every exited one whose exit is still in
// another CPU's ring (~1,500 in a 15,000 threads/s storm). So the first kFew samples are kept as
// they are and the histogram is made at the kFew+1-th. Every view is the histogram those samples
// make: recording is order-independent, so the output is what a histogram from the start gives.
#pragma once

#include "aitrace/core/signed_histogram.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace aitrace {

class LagSamples {
 public:
  static constexpr size_t kFew = 32;

  LagSamples() = default;
  LagSamples(const LagSamples& o) : few_(o.few_), full_(o.full_ ? std::make_unique<SignedHistogram>(*o.full_) : nullptr) {}
  LagSamples& operator=(const LagSamples& o) {
    if (this != &o) *this = LagSamples(o);
    return *this;
  }
  LagSamples(LagSamples&&) noexcept = default;
  LagSamples& operator=(LagSamples&&) noexcept = default;
  ~LagSamples() = default;

  void record(int64_t v) {
    if (full_) {
      full_->record(v);
      return;
    }
    few_.push_back(v);
    if (few_.size() <= kFew) return;
    full_ = std::make_unique<SignedHistogram>();
    for (int64_t s : few_) full_->record(s);
    few_ = {};  // frees the samples' storage
  }
  uint64_t count() const { return full_ ? full_->count() : few_.size(); }
  // The histogram of every sample (a copy made from the samples while there are few).
  SignedHistogram histogram() const {
    if (full_) return *full_;
    SignedHistogram h;
    add_to(h);
    return h;
  }
  void add_to(SignedHistogram& h) const {
    if (full_) {
      h.merge(*full_);
      return;
    }
    for (int64_t s : few_) h.record(s);
  }

 private:
  std::vector<int64_t> few_;
  std::unique_ptr<SignedHistogram> full_;
};

}  // namespace aitrace
