#include "aitrace/migrate/migrate_tracer.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/migrate/migrate_names.hpp"
#include "aitrace/output/metric_store.hpp"

#include <map>
#include <optional>
#include <set>

namespace aitrace {
namespace {

class MigrateTracer final : public Collector {
 public:
  explicit MigrateTracer(const MigrateTracerConfig& cfg) {
    ctx_.by = cfg.by;
    ctx_.reasons = &migrate_reason_names();
    ctx_.modes = &migrate_mode_names();
  }

  std::string_view name() const override { return "migrate"; }
  std::string_view traces() const override { return "page migrations"; }

  Status load(const CollectorContext& ctx) override {
    auto c = MigrateCollector::load(ctx.targets, ctx.features);
    if (!c) return c.error();
    collector_ = std::move(*c);
    ctx_.host = read_migrate_host();
    return {};
  }
  Status attach(const ResolvedTargets& targets) override {
    AITRACE_TRY(collector_->attach(targets));
    ctx_.hooks = collector_->hook_states();
    return {};
  }
  void detach() override { collector_->detach(); }

  Result<std::unique_ptr<Snapshot>> read() override { return snapshot_result(collector_->snapshot()); }
  std::unique_ptr<Snapshot> delta(const Snapshot& now, const Snapshot* before) const override {
    return make_snapshot(snapshot_delta(snapshot_value<MigrateSnapshot>(now),
                                        before ? snapshot_value<MigrateSnapshot>(*before) : MigrateSnapshot{}));
  }
  std::string render_text(const Snapshot& s, const RenderContext& rc) override {
    const MigrateSnapshot& snap = snapshot_value<MigrateSnapshot>(s);
    return migrate_text(snap, context(snap, rc)) + (rc.interval ? "\n" : "");
  }
  void render_json(nlohmann::json& doc, const Snapshot& s, const RenderContext& rc) override {
    const MigrateSnapshot& snap = snapshot_value<MigrateSnapshot>(s);
    doc.update(migrate_json(snap, context(snap, rc)));
  }
  const HookSet& hooks() const override { return collector_->hooks(); }

  // serve: page migrations by reason (summed over processes), from the deltas since the last call.
  bool add_metrics(const Snapshot& now_s, MetricStore& store) override {
    const MigrateSnapshot& now = snapshot_value<MigrateSnapshot>(now_s);
    if (!families_) {
      families_ = Families{
          store.counter("aitrace_migrate_calls", "migrate_pages() calls, by migration reason"),
          store.counter("aitrace_migrate_pages",
                        "Pages migrated (result=succeeded) or not (result=failed), by migration reason"),
          store.counter("aitrace_migrate_thp", "Transparent huge pages migrated, failed or split, by migration reason"),
          store.histogram("aitrace_migrate_call_duration_seconds", "Duration of migrate_pages() calls, by reason"),
          store.counter("aitrace_migrate_lost_events", "Migration events the collector could not account, by reason")};
    }
    const Families& f = *families_;
    const MigrateSnapshot d = snapshot_delta(now, previous_);
    std::map<int32_t, MigrateCounts> by_reason;
    for (const MigrateStatsRow& r : d.stats) by_reason[r.reason] += r.counts;
    for (const auto& [reason, c] : by_reason) {
      const std::string name = ctx_.reasons->name(reason);
      store.add(f.calls, {{"reason", name}}, c.calls);
      store.add(f.pages, {{"reason", name}, {"result", "succeeded"}}, c.succeeded);
      store.add(f.pages, {{"reason", name}, {"result", "failed"}}, c.failed);
      if (c.thp_succeeded) store.add(f.thp, {{"reason", name}, {"result", "succeeded"}}, c.thp_succeeded);
      if (c.thp_failed) store.add(f.thp, {{"reason", name}, {"result", "failed"}}, c.thp_failed);
      if (c.thp_split) store.add(f.thp, {{"reason", name}, {"result", "split"}}, c.thp_split);
    }
    for (const auto& [reason, buckets] : d.latency) {
      auto it = by_reason.find(reason);
      store.add_histogram(f.duration, {{"reason", ctx_.reasons->name(reason)}}, {buckets.begin(), buckets.end()},
                          it != by_reason.end() ? it->second.latency_sum_ns : 0);
    }
    store.add(f.lost, {{"reason", "stats_map_full"}}, d.lost.stats_full);
    store.add(f.lost, {{"reason", "inflight_map_full"}}, d.lost.inflight_full);
    store.add(f.lost, {{"reason", "hist_map_full"}}, d.lost.hist_full);
    store.add(f.lost, {{"reason", "numa_map_full"}}, d.lost.numa_full);
    store.add(f.lost, {{"reason", "start_not_seen"}}, d.lost.no_start);
    store.add(f.lost, {{"reason", "fork_not_followed"}}, d.fork_overflow);
    previous_ = now;
    return true;
  }

 private:
  struct Families {
    int calls, pages, thp, duration, lost;
  };
  std::optional<Families> families_;
  MigrateSnapshot previous_;

  const MigrateReportContext& context(const MigrateSnapshot& snap, const RenderContext& rc) {
    ctx_.interval = rc.interval;
    ctx_.interval_index = rc.interval_index;
    ctx_.duration_ns = static_cast<uint64_t>(rc.duration.count());
    if (ctx_.by == MigrateGroupBy::cgroup) {
      std::set<uint64_t> ids;
      for (const auto& r : snap.stats) ids.insert(r.cgroup_id);
      ctx_.cgroup_paths = cgroup_names_.paths(ids);  // resolved once per id for the whole run
    }
    return ctx_;
  }

  MigrateReportContext ctx_;
  std::unique_ptr<MigrateCollector> collector_;
  CgroupPaths cgroup_names_;
};

}  // namespace

std::unique_ptr<Collector> make_migrate_tracer(const MigrateTracerConfig& cfg) {
  return std::make_unique<MigrateTracer>(cfg);
}

}  // namespace aitrace
