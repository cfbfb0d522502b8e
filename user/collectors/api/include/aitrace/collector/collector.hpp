// The collector contract: what every collector (sched, the EEVDF trace, migrate, dma) offers the
// command driver, and the one order the driver calls it in:
//
//   construct(config) -> load(ctx) -> attach(targets) -> start() -> [add_to(loop)] -> read() ...
//   -> stop() -> detach() -> finish() -> read() -> render
//
// Each step runs for every collector of the run before the next step starts for any of them.
//
// - construct: the collector's own config struct (parsed and checked by its command); no kernel
//   work yet.
// - load: open the BPF object, set its rodata from the config, choose hooks (ctx.features),
//   give it the run's window (ctx.window, counting_window.hpp: one hold every object of the run
//   reads), verify and load. Nothing runs in the kernel yet.
// - attach: fill the filter maps from the targets (CMD's pid is known by now: the driver forks
//   CMD, held, before any collector loads), then attach the hooks. The programs run but count
//   nothing yet (held since load: bpf/common/programs.bpf.h).
// - start: counting begins. The driver releases the run's window right after the last attach,
//   one store for every object, then calls start() on each (whose own store repeats it), so all
//   sections of a report cover one window: with one collector's hooks counting while another
//   still attached, sched and the EEVDF summary disagreed on a thread's switches under -p.
// - stop: counting ends: the driver holds the window again, one store, before any stop() and
//   before the first detach (which takes longer).
// - read: a cumulative snapshot of everything since start; delta(now, before) the interval
//   view of two of them (before: null for the first interval). Snapshots are plain values the collector's renderers understand.
// - detach: the hooks go; the window already ended at stop().
// - finish: drain what is still in flight (ring buffers), close files the collector writes.
// - render_text / render_json: one snapshot into the shared report. JSON: the driver builds the
//   envelope (schema, times, duration, interval, hooks, lost, group_by: report_envelope.hpp) from
//   the document's first collector, then every collector adds its own keys to that one document.
//   Text: the driver prints interval headers (number, wall-clock span); a collector's final
//   header shows the run's span (clock_text.hpp).
// - add_metrics (serve): a cumulative snapshot into the exporter's store, as the deltas since the
//   collector's previous add_metrics (its families declared on the first call).
#pragma once

#include "aitrace/core/clock_sample.hpp"
#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/targets.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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
  // The run's window, which every object of the run shares (counting_window.hpp): the driver
  // opens it after the last attach and closes it before the first detach, one store each.
  const CountingWindow* window = nullptr;
};

// One collector's cumulative counts at one moment (or, after delta, over one interval).
class Snapshot {
 public:
  virtual ~Snapshot() = default;
};

// Where in the run a rendered snapshot sits, and when.
struct RenderContext {
  bool interval = false;        // false: the final, cumulative report
  uint64_t interval_index = 0;  // 1, 2, ... for intervals; 0 for the final report
  // The span the snapshot covers: from attach (or the previous interval's end) to its read (the
  // final report: to detach).
  ClockSample start, end;
  std::chrono::nanoseconds duration{0};  // end - start on the boot clock
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
  virtual void start() = 0;
  virtual void stop() = 0;
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

  // The JSON envelope takes these from the document's first collector (a collector that joins
  // another's document, as the EEVDF trace joins sched's, reports its drops in its own keys):
  // "aitrace.<name>/<version>";
  virtual std::string_view schema() const = 0;
  // the grouping of its `groups` ("process"), where it groups;
  virtual std::optional<std::string> group_by() const { return std::nullopt; }
  // every count of something it could not measure, as one object (the envelope's `lost`).
  virtual nlohmann::json lost_json(const Snapshot& s) const = 0;
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
  nlohmann::json lost_json(const Snapshot& s) const final { return lost(snapshot_value<S>(s)); }

 protected:
  virtual Result<S> read_value() = 0;
  // now - before; before is S{} for the first interval.
  virtual S delta_value(const S& now, const S& before) const = 0;
  virtual std::string text(const S& s, const RenderContext& ctx) = 0;
  virtual void json(nlohmann::json& doc, const S& s, const RenderContext& ctx) = 0;
  virtual nlohmann::json lost(const S& s) const = 0;
  // serve (see add_metrics): false when the collector exports no metrics.
  virtual bool metrics(const S& /*now*/, MetricStore& /*store*/) { return false; }
};

}  // namespace aitrace
