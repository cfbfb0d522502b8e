#include "aitrace/output/metric_store.hpp"

#include "aitrace/histogram.h"
#include "aitrace/output/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

namespace aitrace {
namespace {

constexpr size_t kMaxBounds = 64;

// The lower edge of the first bucket at or above ns: the bound a requested value becomes.
uint64_t bucket_edge_at_or_above(uint64_t ns) {
  uint32_t b = aitrace_hist_bucket(ns);
  if (aitrace_hist_bucket_low(b) == ns || b + 1 >= AITRACE_HIST_BUCKETS) return aitrace_hist_bucket_low(b);
  return aitrace_hist_bucket_low(b + 1);
}

void append_seconds(std::string& out, uint64_t ns) {
  fmt::format_to(std::back_inserter(out), "{}", static_cast<double>(ns) / 1e9);
}

void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

std::string render_labels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
  }
  return out;
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                   std::string_view extra_label) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_label.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra_label.empty()) out += ',';
    out += extra_label;
    out += '}';
  }
  out += ' ';
}

}  // namespace

MetricFormat negotiate_metric_format(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos ? MetricFormat::openmetrics
                                                                               : MetricFormat::prometheus;
}

const char* metric_content_type(MetricFormat f) {
  return f == MetricFormat::openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                        : "text/plain; version=0.0.4; charset=utf-8";
}

std::string escape_label_value(std::string_view v) {
  static const char kHex[] = "0123456789abcdef";
  const std::string clean = sanitize_utf8(v);  // invalid bytes -> the text \xNN
  std::string out;
  out.reserve(clean.size());
  for (char ch : clean) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      // Parsers take these, but a tab or carriage return in a label hides text in most viewers.
      out += "\\\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

HistogramBounds::HistogramBounds(std::vector<uint64_t> edges) : edges_(std::move(edges)) {
  constexpr uint32_t kBuckets = AITRACE_HIST_BUCKETS;
  slot_of_bucket_.resize(kBuckets);
  for (uint32_t b = 0; b < AITRACE_HIST_BUCKETS; b++) {
    // A bucket lies wholly below an edge iff its low end does (edges are bucket low ends).
    const uint64_t low = aitrace_hist_bucket_low(b);
    slot_of_bucket_[b] = static_cast<uint32_t>(std::upper_bound(edges_.begin(), edges_.end(), low) - edges_.begin());
  }
}

HistogramBounds HistogramBounds::defaults() {
  std::vector<uint64_t> e;
  for (int k = 10; k <= 34; k++) e.push_back(uint64_t{1} << k);
  return HistogramBounds(std::move(e));
}

Result<HistogramBounds> HistogramBounds::parse(std::string_view text) {
  std::vector<uint64_t> edges;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    double sec = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), sec);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || !std::isfinite(sec) || sec <= 0)
      return make_error(ErrorKind::usage, "invalid --buckets value '{}': expected positive seconds, e.g. 0.001",
                        std::string(item));
    const double ns = std::ceil(sec * 1e9);
    if (ns >= static_cast<double>(uint64_t{1} << AITRACE_HIST_MAX_LOG2))
      return make_error(ErrorKind::usage, "--buckets value {} is above the histogram's range (4398 s)", std::string(item));
    const uint64_t edge = bucket_edge_at_or_above(static_cast<uint64_t>(std::max(1.0, ns)));
    if (!edges.empty() && edge <= edges.back())
      return make_error(ErrorKind::usage,
                        "--buckets must ascend, and no two may round to the same bucket edge ('{}' does)",
                        std::string(item));
    edges.push_back(edge);
    if (edges.size() > kMaxBounds) return make_error(ErrorKind::usage, "--buckets: at most {} bounds", kMaxBounds);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return HistogramBounds(std::move(edges));
}

MetricStore::MetricStore(Options opts) : opts_(std::move(opts)) {}

int MetricStore::counter(std::string name, std::string help) {
  families_.push_back({std::move(name), std::move(help), Type::counter, {}, {}});
  return static_cast<int>(families_.size() - 1);
}

int MetricStore::gauge(std::string name, std::string help) {
  families_.push_back({std::move(name), std::move(help), Type::gauge, {}, {}});
  return static_cast<int>(families_.size() - 1);
}

int MetricStore::histogram(std::string name, std::string help) {
  families_.push_back({std::move(name), std::move(help), Type::histogram, {}, {}});
  return static_cast<int>(families_.size() - 1);
}

MetricStore::Group MetricStore::admit(const MetricLabels& group_labels) {
  std::string key = render_labels(group_labels);
  // A group whose own labels read "other" (a task named other) shares the fold's series.
  if (auto it = group_index_.find(key); it != group_index_.end()) return {it->second, other_ == it->second};
  if (retired_.count(key)) {  // its series ended at a value; a restart from zero would go backwards
    folded_++;
    return {other_group(group_labels), true};
  }
  if (admitted_groups() < opts_.max_groups) {
    uint32_t index = static_cast<uint32_t>(groups_.size());
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
      groups_[index] = key;
    } else {
      groups_.push_back(key);
    }
    group_index_.emplace(std::move(key), index);
    return {index, false};
  }
  folded_++;
  return {other_group(group_labels), true};
}

uint32_t MetricStore::other_group(const MetricLabels& like) {
  if (!other_) {
    MetricLabels other = like;
    for (auto& [name, value] : other) value = "other";
    std::string key = render_labels(other);
    other_ = static_cast<uint32_t>(groups_.size());
    groups_.push_back(key);
    group_index_.emplace(std::move(key), *other_);
  }
  return *other_;
}

MetricStore::Series& MetricStore::series_of(int family, std::string labels, uint32_t group) {
  Family& f = families_[family];
  auto [it, inserted] = f.index.try_emplace(labels, f.series.size());
  if (inserted) {
    f.series.push_back({std::move(labels), 0, 0, 0, {}, group});
    if (f.type == Type::histogram) f.series.back().per_slot.assign(opts_.bounds.edges_ns().size() + 1, 0);
  }
  return f.series[it->second];
}

std::string MetricStore::series_labels(Group g, const MetricLabels& extra) const {
  std::string labels = groups_.at(g.index);
  std::string more = render_labels(extra);
  if (!labels.empty() && !more.empty()) labels += ',';
  labels += more;
  return labels;
}

void MetricStore::add(int family, Group g, const MetricLabels& extra, uint64_t delta) {
  series_of(family, series_labels(g, extra), g.index).value += delta;
}

void MetricStore::add_histogram(int family, Group g, const MetricLabels& extra,
                                const std::vector<std::pair<uint32_t, uint64_t>>& buckets, uint64_t sum_ns) {
  add_to_histogram(series_of(family, series_labels(g, extra), g.index), buckets, sum_ns);
}

void MetricStore::retire(const std::vector<Group>& groups) {
  std::unordered_set<uint32_t> gone;
  for (const Group& g : groups) {
    if (g.folded || (other_ && g.index == *other_) || g.index >= groups_.size() || groups_[g.index].empty()) continue;
    if (!gone.insert(g.index).second) continue;
    std::string key = std::move(groups_[g.index]);
    groups_[g.index].clear();
    group_index_.erase(key);
    free_.push_back(g.index);
    if (retired_.insert(key).second) retired_order_.push_back(std::move(key));
    while (retired_order_.size() > kRetiredRemembered) {
      retired_.erase(retired_order_.front());
      retired_order_.pop_front();
    }
    retired_total_++;
  }
  if (gone.empty()) return;
  // One pass over every series: the survivors keep their order (rendering stays stable).
  for (Family& f : families_) {
    std::vector<Series> kept;
    kept.reserve(f.series.size());
    for (Series& s : f.series)
      if (s.group == kNoGroup || !gone.count(s.group)) kept.push_back(std::move(s));
    if (kept.size() == f.series.size()) {
      f.series = std::move(kept);
      continue;
    }
    f.series = std::move(kept);
    f.index.clear();
    for (size_t i = 0; i < f.series.size(); i++) f.index.emplace(f.series[i].labels, i);
  }
}

void MetricStore::add_histogram(int family, const MetricLabels& labels,
                                const std::vector<std::pair<uint32_t, uint64_t>>& buckets, uint64_t sum_ns) {
  add_to_histogram(series_of(family, render_labels(labels)), buckets, sum_ns);
}

void MetricStore::add_to_histogram(Series& s, const std::vector<std::pair<uint32_t, uint64_t>>& buckets,
                                   uint64_t sum_ns) const {
  for (auto [b, n] : buckets)
    if (b < AITRACE_HIST_BUCKETS) s.per_slot[opts_.bounds.slot_of_bucket(b)] += n;
  s.sum_ns += sum_ns;
}

void MetricStore::add(int family, const MetricLabels& labels, uint64_t delta) {
  series_of(family, render_labels(labels)).value += delta;
}

void MetricStore::set(int family, const MetricLabels& labels, double value) {
  series_of(family, render_labels(labels)).gauge = value;
}

size_t MetricStore::series() const {
  size_t n = 0;
  for (const Family& f : families_) n += f.series.size();
  return n;
}

void MetricStore::render(MetricFormat fmt_kind, std::string& out) const {
  const bool om = fmt_kind == MetricFormat::openmetrics;
  auto header = [&](std::string_view name, std::string_view help, const char* type, bool counter) {
    // Prometheus' text format names a counter family by its sample name; OpenMetrics without _total.
    const std::string_view suffix = counter && !om ? "_total" : "";
    out += "# HELP ";
    out += name;
    out += suffix;
    out += ' ';
    append_help(out, help);
    out += "\n# TYPE ";
    out += name;
    out += suffix;
    out += ' ';
    out += type;
    out += '\n';
    if (om && name.ends_with("_seconds")) {
      out += "# UNIT ";
      out += name;
      out += " seconds\n";
    }
  };
  const std::vector<uint64_t>& edges = opts_.bounds.edges_ns();
  std::vector<std::string> le_labels;
  le_labels.reserve(edges.size() + 1);
  for (uint64_t e : edges) {
    std::string l = "le=\"";
    append_seconds(l, e);
    le_labels.push_back(l + '"');
  }
  le_labels.emplace_back("le=\"+Inf\"");
  for (const Family& f : families_) {
    if (f.series.empty()) continue;
    switch (f.type) {
      case Type::counter:
        header(f.name, f.help, "counter", true);
        for (const Series& s : f.series) {
          append_sample(out, f.name, "_total", s.labels, "");
          fmt::format_to(std::back_inserter(out), "{}\n", s.value);
        }
        break;
      case Type::gauge:
        header(f.name, f.help, "gauge", false);
        for (const Series& s : f.series) {
          append_sample(out, f.name, "", s.labels, "");
          fmt::format_to(std::back_inserter(out), "{}\n", s.gauge);
        }
        break;
      case Type::histogram:
        header(f.name, f.help, "histogram", false);
        for (const Series& s : f.series) {
          uint64_t cumulative = 0;
          for (size_t i = 0; i < s.per_slot.size(); i++) {
            cumulative += s.per_slot[i];
            append_sample(out, f.name, "_bucket", s.labels, le_labels[i]);
            fmt::format_to(std::back_inserter(out), "{}\n", cumulative);
          }
          append_sample(out, f.name, "_sum", s.labels, "");
          append_seconds(out, s.sum_ns);
          out += '\n';
          append_sample(out, f.name, "_count", s.labels, "");
          fmt::format_to(std::back_inserter(out), "{}\n", cumulative);
        }
        break;
    }
  }
  // The cap's own state, so a dashboard can see when groups start folding.
  header("aitrace_serve_groups", "Groups (label sets of the grouping key) exported, the other group excluded", "gauge",
         false);
  fmt::format_to(std::back_inserter(out), "aitrace_serve_groups {}\n", admitted_groups());
  header("aitrace_serve_group_limit", "Groups exported before new ones fold into other (--max-groups)", "gauge", false);
  fmt::format_to(std::back_inserter(out), "aitrace_serve_group_limit {}\n", opts_.max_groups);
  header("aitrace_serve_folded_groups", "Groups folded into other because the group limit was reached (or a retired group came back)", "counter",
         true);
  fmt::format_to(std::back_inserter(out), "aitrace_serve_folded_groups_total {}\n", folded_);
  header("aitrace_serve_retired_groups", "Groups whose tasks had all exited, their series ended and their place freed",
         "counter", true);
  fmt::format_to(std::back_inserter(out), "aitrace_serve_retired_groups_total {}\n", retired_total_);
  if (om) out += "# EOF\n";
}

}  // namespace aitrace
