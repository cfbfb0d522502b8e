// The collector contract: what every collector (sched, the EEVDF trace, migrate, dma) offers the
// command driver, and the one order the driver calls it in:
//
//   construct(config) -> load(ctx) -> attach(targets) -> [add_to(loop)] -> read() ... -> detach()
//   -> finish() -> read() -> render
//
// - construct: the collector's own config struct (parsed and checked by its command); no kernel
//   work yet.
// - load: open the BPF object, set its rodata from the config, choose hooks (ctx.features),
//   verify and load. Nothing runs in the kernel yet.
// - attach: fill the filter maps from the targets (CMD's pid is known by now: the driver forks
//   CMD, held, before any collector loads), then attach the hooks. From here on events count.
// - read: a cumulative snapshot of everything since attach; delta(now, before) the interval
//   view of two of them (before: null for the first interval). Snapshots are plain values the collector's renderers understand.
// - detach: the window ends; nothing is counted after it, so the last read() is one moment.
// - finish: drain what is still in flight (ring buffers), close files the collector writes.
// - render_text / render_json: one snapshot into the shared report (JSON: the collector adds
//   its keys to one document, so several collectors give one envelope).
// - add_metrics (serve): a cumulative snapshot into the exporter's store, as the deltas since the
//   collector's previous add_metrics (its families declared on the first call).
#pragma once

#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/targets.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aitrace {

class KernelFeatures;
class MetricStore;
class RunLoop;

// What a collector reads from at load time.
struct CollectorContext {
  const KernelFeatures& features;
  const ResolvedTargets& targets;
};

// One collector's cumulative counts at one moment (or, after delta, over one interval).
class Snapshot {
 public:
  virtual ~Snapshot() = default;
};

// Where in the run a rendered snapshot sits.
struct RenderContext {
  bool interval = false;        // false: the final, cumulative report
  uint64_t interval_index = 0;  // 1, 2, ... for intervals
  std::chrono::nanoseconds duration{0};  // of this interval, or of the whole run
  bool targets_exited = false;  // the final report of a run that ended because every -p process exited
};

class Collector {
 public:
  virtual ~Collector() = default;
  Collector() = default;
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // "sched", "eevdf", "migrate", "dma": the name in messages and the readiness line.
  virtual std::string_view name() const = 0;
  // What the readiness line says is traced ("scheduler events").
  virtual std::string_view traces() const = 0;
  // Files the collector writes besides the report (the Perfetto trace), so the driver can refuse
  // `-o X --trace X` before anything runs.
  virtual std::vector<std::string> output_paths() const { return {}; }

  virtual Status load(const CollectorContext& ctx) = 0;
  virtual Status attach(const ResolvedTargets& targets) = 0;
  // Ring buffers and periodic work the run loop must serve (most collectors have none).
  virtual void add_to(RunLoop&) {}
  virtual void detach() = 0;
  virtual Status finish() { return {}; }

  virtual Result<std::unique_ptr<Snapshot>> read() = 0;
  // now - before; before is null for the first interval (everything since attach).
  virtual std::unique_ptr<Snapshot> delta(const Snapshot& now, const Snapshot* before) const = 0;
  virtual std::string render_text(const Snapshot& s, const RenderContext& ctx) = 0;
  virtual void render_json(nlohmann::json& doc, const Snapshot& s, const RenderContext& ctx) = 0;
  // `aitrace serve`: adds what changed since the previous call (`now` is a read()) to the
  // store's series. Only deltas go in, so counters stay monotonic (metric_store.hpp). False:
  // this collector exports no metrics.
  virtual bool add_metrics(const Snapshot& /*now*/, MetricStore& /*store*/) { return false; }

  virtual const HookSet& hooks() const = 0;
};

// A collector's own snapshot type as a Snapshot.
template <class T>
struct SnapshotOf final : Snapshot {
  explicit SnapshotOf(T v) : value(std::move(v)) {}
  T value;
};

template <class T>
std::unique_ptr<Snapshot> make_snapshot(T v) {
  return std::make_unique<SnapshotOf<T>>(std::move(v));
}

// A collector's read of its own snapshot type, as the contract's read() result.
template <class T>
Result<std::unique_ptr<Snapshot>> snapshot_result(Result<T> r) {
  if (!r) return r.error();
  return make_snapshot(std::move(*r));
}

// The value back from a snapshot this collector made (a std::bad_cast otherwise: a driver bug).
template <class T>
const T& snapshot_value(const Snapshot& s) {
  return dynamic_cast<const SnapshotOf<T>&>(s).value;
}

// A Collector whose snapshots are one value type S (sched, migrate, dma): it implements the typed
// half, and the conversions from and to Snapshot live here once.
template <class S>
class TypedCollector : public Collector {
 public:
  Result<std::unique_ptr<Snapshot>> read() final { return snapshot_result(read_value()); }
  std::unique_ptr<Snapshot> delta(const Snapshot& now, const Snapshot* before) const final {
    return make_snapshot(delta_value(snapshot_value<S>(now), before ? snapshot_value<S>(*before) : S{}));
  }
  std::string render_text(const Snapshot& s, const RenderContext& ctx) final {
    return text(snapshot_value<S>(s), ctx);
  }
  void render_json(nlohmann::json& doc, const Snapshot& s, const RenderContext& ctx) final {
    json(doc, snapshot_value<S>(s), ctx);
  }
  bool add_metrics(const Snapshot& now, MetricStore& store) final { return metrics(snapshot_value<S>(now), store); }

 protected:
  virtual Result<S> read_value() = 0;
  // now - before; before is S{} for the first interval.
  virtual S delta_value(const S& now, const S& before) const = 0;
  virtual std::string text(const S& s, const RenderContext& ctx) = 0;
  virtual void json(nlohmann::json& doc, const S& s, const RenderContext& ctx) = 0;
  // serve (see add_metrics): false when the collector exports no metrics.
  virtual bool metrics(const S& /*now*/, MetricStore& /*store*/) { return false; }
};

}  // namespace aitrace
