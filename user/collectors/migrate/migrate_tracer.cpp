#include "aitrace/migrate/migrate_tracer.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/migrate/migrate_names.hpp"
#include "aitrace/output/clock_text.hpp"
#include "aitrace/output/metric_store.hpp"

#include <map>
#include <optional>
#include <set>

namespace aitrace {
namespace {

class MigrateTracer final : public TypedCollector<MigrateSnapshot> {
 public:
  explicit MigrateTracer(const MigrateTracerConfig& cfg) {
    ctx_.by = cfg.by;
    ctx_.reasons = &migrate_reason_names();
    ctx_.modes = &migrate_mode_names();
  }

  std::string_view name() const override { return "migrate"; }
  std::string_view traces() const override { return "page migrations"; }

  Status load(const CollectorContext& ctx) override {
    auto c = MigrateCollector::load(ctx.targets, ctx.features, ctx.window);
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
  void start() override { collector_->start(); }
  void stop() override { collector_->stop(); }
  void add_to(RunLoop& loop) override { collector_->add_to(loop); }
  void detach() override { collector_->detach(); }

  const HookSet& hooks() const override { return collector_->hooks(); }
  std::string_view schema() const override { return "aitrace.migrate/2"; }
  std::optional<std::string> group_by() const override { return migrate_group_by_name(ctx_.by); }

  // serve: page migrations by reason (summed over processes), from the deltas since the last call.
  bool metrics(const MigrateSnapshot& now, MetricStore& store) override {
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
  Result<MigrateSnapshot> read_value() override { return collector_->snapshot(); }
  MigrateSnapshot delta_value(const MigrateSnapshot& now, const MigrateSnapshot& before) const override {
    return snapshot_delta(now, before);
  }
  std::string text(const MigrateSnapshot& snap, const RenderContext& rc) override {
    return migrate_text(snap, context(snap, rc)) + (rc.interval ? "\n" : "");
  }
  void json(nlohmann::json& doc, const MigrateSnapshot& snap, const RenderContext& rc) override {
    doc.update(migrate_json(snap, context(snap, rc)));
  }
  nlohmann::json lost(const MigrateSnapshot& snap) const override { return migrate_lost_json(snap); }

  struct Families {
    int calls, pages, thp, duration, lost;
  };
  std::optional<Families> families_;
  MigrateSnapshot previous_;

  const MigrateReportContext& context(const MigrateSnapshot& snap, const RenderContext& rc) {
    ctx_.interval = rc.interval;
    ctx_.duration_ns = static_cast<uint64_t>(rc.duration.count());
    if (!rc.interval) ctx_.span = clock_span_text(rc.start.unix_ns, rc.end.unix_ns, true);
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
