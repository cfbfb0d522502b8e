// The exporter's state for `aitrace serve`: metric families whose series only ever grow, and
// their rendering as the Prometheus text format (0.0.4) or OpenMetrics 1.0.
//
// Collectors add *deltas* (what happened since their previous read) to series keyed by label
// set; the store never takes a raw kernel value. So a series' counters never go backwards: not
// when the task behind it exits (its series stays, or ends when its group retires, below), not
// when a kernel map slot is reused by
// another group (the collector starts that slot's delta from zero), and not when groups fold
// into `other` (the fold only adds to `other` from then on).
//
// The cardinality cap counts grouping label sets (one per process, comm, cgroup): once
// `max_groups` are admitted, every new group is folded into the one group whose labels all read
// "other", and the fold is counted (aitrace_serve_folded_groups_total).
//
// A group whose tasks are all gone (an exited process) is retired: its series end (they leave
// the exposition, so Prometheus marks them stale) and its place under the cap is free again. The
// retired label set is remembered (the most recent kRetiredRemembered of them): if it comes back
// (a reused pid with the same comm), it is folded into `other` rather than restarting from zero,
// so no label set's counter ever goes backwards.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace aitrace {

enum class MetricFormat { prometheus, openmetrics };

// OpenMetrics when the Accept header asks for application/openmetrics-text, else the
// Prometheus text format.
MetricFormat negotiate_metric_format(std::string_view accept);
const char* metric_content_type(MetricFormat f);

// A label value with the text format's escapes (backslash, double quote, newline); invalid
// UTF-8 and other control bytes become the text `\xNN`, so any kernel string parses.
std::string escape_label_value(std::string_view v);

// Histogram `le` bounds. Each is the lower edge of a log-linear bucket (aitrace/histogram.h), so
// the cumulative counts are exact: le=B counts every sample below B ns.
class HistogramBounds {
 public:
  // 2^10 ns (1.024 us) to 2^34 ns (17.2 s), one bound per power of two.
  static HistogramBounds defaults();
  // Comma-separated seconds ("0.00001,0.001,0.1"), each rounded up to the next bucket edge
  // (at most 1/16 above the value given); ascending, positive, at most 64.
  static Result<HistogramBounds> parse(std::string_view text);
  const std::vector<uint64_t>& edges_ns() const { return edges_; }
  // Index of the first bound whose `le` counts bucket `bucket` (edges_ns().size(): +Inf only).
  uint32_t slot_of_bucket(uint32_t bucket) const { return slot_of_bucket_[bucket]; }

 private:
  explicit HistogramBounds(std::vector<uint64_t> edges);
  std::vector<uint64_t> edges_;
  std::vector<uint32_t> slot_of_bucket_;
};

using MetricLabels = std::vector<std::pair<std::string, std::string>>;  // name, raw value

class MetricStore {
 public:
  struct Options {
    uint32_t max_groups = 1000;
    HistogramBounds bounds = HistogramBounds::defaults();
  };
  explicit MetricStore(Options opts);

  // Families, rendered in the order declared. Names carry the aitrace_ prefix and base unit;
  // counters are declared without `_total` (the sample name adds it).
  int counter(std::string name, std::string help);
  int gauge(std::string name, std::string help);
  int histogram(std::string name, std::string help);  // name ends in _seconds; ns values

  // A group (one grouping label set), admitted while fewer than max_groups are, else folded
  // into `other` (and counted). Call it once per group a collector sees, and keep the result.
  struct Group {
    uint32_t index = 0;
    bool folded = false;
  };
  Group admit(const MetricLabels& group_labels);
  // The `other` group itself (labels like these, each value "other"), not counted as a fold.
  Group other(const MetricLabels& like) { return {other_group(like), true}; }

  // Deltas of one series: the group's labels, then `extra` (e.g. kind="wakeup").
  void add(int family, Group g, const MetricLabels& extra, uint64_t delta);
  // Histogram: log-linear {bucket, count} deltas and the sum of their samples in ns.
  void add_histogram(int family, Group g, const MetricLabels& extra,
                     const std::vector<std::pair<uint32_t, uint64_t>>& buckets, uint64_t sum_ns);
  // Series outside any group (lost-event counters, self metrics).
  void add(int family, const MetricLabels& labels, uint64_t delta);
  void set(int family, const MetricLabels& labels, double value);
  void add_histogram(int family, const MetricLabels& labels, const std::vector<std::pair<uint32_t, uint64_t>>& buckets,
                     uint64_t sum_ns);

  // Ends the series of these groups and frees their places under the cap (see above).
  void retire(const std::vector<Group>& groups);
  static constexpr size_t kRetiredRemembered = 1u << 16;
  uint64_t retired_groups() const { return retired_total_; }

  size_t admitted_groups() const { return groups_.size() - free_.size() - (other_ ? 1 : 0); }
  uint64_t folded_groups() const { return folded_; }
  size_t series() const;

  // Appends the whole exposition (OpenMetrics ends with `# EOF`).
  void render(MetricFormat f, std::string& out) const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Series {
    std::string labels;  // rendered: name="value",... (escaped)
    uint64_t value = 0;  // counter
    double gauge = 0;
    uint64_t sum_ns = 0;
    std::vector<uint64_t> per_slot;  // histogram: samples per bound slot (+Inf last)
    uint32_t group = kNoGroup;       // the admitted group it belongs to
  };
  static constexpr uint32_t kNoGroup = ~0u;
  struct Family {
    std::string name, help;
    Type type;
    std::unordered_map<std::string, size_t> index;
    std::vector<Series> series;
  };
  Series& series_of(int family, std::string labels, uint32_t group = kNoGroup);
  std::string series_labels(Group g, const MetricLabels& extra) const;
  void add_to_histogram(Series& s, const std::vector<std::pair<uint32_t, uint64_t>>& buckets, uint64_t sum_ns) const;
  uint32_t other_group(const MetricLabels& like);

  Options opts_;
  std::vector<Family> families_;
  std::vector<std::string> groups_;  // rendered labels of each admitted group (and `other`); "" when free
  std::vector<uint32_t> free_;       // indices of groups_ freed by retire()
  std::unordered_set<std::string> retired_;
  std::deque<std::string> retired_order_;  // oldest first, to forget beyond kRetiredRemembered
  uint64_t retired_total_ = 0;
  std::unordered_map<std::string, uint32_t> group_index_;
  std::optional<uint32_t> other_;
  uint64_t folded_ = 0;
};

}  // namespace aitrace
