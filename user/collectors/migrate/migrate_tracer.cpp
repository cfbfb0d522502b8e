#include "aitrace/migrate/migrate_tracer.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/migrate/migrate_names.hpp"

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

  const HookSet& hooks() const override { return collector_->hooks(); }

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
