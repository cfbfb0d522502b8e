// What a capture and a flight-recorder dump share: the run's collectors turned into report
// documents (one per collector; the EEVDF summary joins sched's), the per-interval p99 points,
// and a whole bundle written into a BundleDir.
#pragma once

#include "aitrace/capture/bundle_dir.hpp"
#include "aitrace/collector/collector.hpp"
#include "aitrace/output/metric_store.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace aitrace {

using Snapshots = std::vector<std::shared_ptr<Snapshot>>;

class CaptureSession {
 public:
  // The collectors stay the caller's; the driver may drop some (unavailable() says why).
  CaptureSession(std::vector<std::unique_ptr<Collector>>& cs, nlohmann::json environment, size_t top)
      : cs_(cs), environment_(std::move(environment)), top_(top) {}

  void note_unavailable(const std::string& name, const std::string& why) { unavailable_[name] = why; }
  const std::map<std::string, std::string>& unavailable() const { return unavailable_; }
  const nlohmann::json& environment() const { return environment_; }
  size_t collectors() const { return cs_.size(); }

  // Every collector read now (cumulative since start).
  Result<Snapshots> read() const;
  // now - before, per collector (before empty: since start).
  Snapshots delta(const Snapshots& now, const Snapshots& before) const;
  // One document per collector name, rendered from `snaps` covering ctx's span; with `only`,
  // just those collectors' (a flight recorder's triggers read one or two each interval).
  std::map<std::string, nlohmann::json> documents(const Snapshots& snaps, const RenderContext& ctx,
                                                  const std::vector<std::string>* only = nullptr) const;
  // The collector's index in the run; -1 when it is not in it (never was, or dropped).
  int index_of(std::string_view name) const;
  // sched's interval document reduced to its p99 point (capture_interval_point); null without sched.
  nlohmann::json interval_point(const Snapshots& d, const RenderContext& ctx) const;

  struct BundleParts {
    std::string kind = "capture";
    nlohmann::json trigger;
    RenderContext span;
    std::map<std::string, nlohmann::json> documents;
    std::vector<nlohmann::json> intervals;
    // Cumulative snapshots for metrics.prom: the session's one metric store takes their deltas
    // since the previous bundle (a collector's metrics state belongs to one store), so its
    // counters run from the start, as Prometheus counters do.
    const Snapshots* metrics_from = nullptr;
    std::string flame_svg;                    // offcpu's graph: offcpu.svg and the report's
    bool trace_staged = false;                // trace.perfetto-trace is in the bundle (the EEVDF trace wrote it)
  };
  // summary.json, metrics.prom, environment.json, report.html (and offcpu.svg) into `dir`, then
  // commits it. Returns the files, for the caller's message.
  Result<std::vector<std::string>> write_bundle(BundleDir& dir, const BundleParts& parts);

 private:
  std::vector<std::unique_ptr<Collector>>& cs_;
  nlohmann::json environment_;
  size_t top_;
  std::map<std::string, std::string> unavailable_;
  MetricStore store_{MetricStore::Options{}};
};

// offcpu's flame graph of one of its snapshots (the window's stacks), as `aitrace offcpu --svg`
// draws it.
std::string offcpu_flame_svg(const Snapshot& offcpu);

// What each file is and how to open it, for the message after a bundle is written.
std::string bundle_guide(const std::string& dir, const std::vector<std::string>& files);

}  // namespace aitrace
