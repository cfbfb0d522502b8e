#include "aitrace/sched/sched_tracer.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/sched/sched_metrics.hpp"
#include "aitrace/sched/sched_report.hpp"

#include <optional>
#include <set>

namespace aitrace {
namespace {

class SchedTracer final : public TypedCollector<SchedSnapshot> {
 public:
  explicit SchedTracer(const SchedTracerConfig& cfg) : cfg_(cfg) {
    ropts_.group_by = cfg.sched.group_by;
    ropts_.top = cfg.top;
  }

  std::string_view name() const override { return "sched"; }
  std::string_view traces() const override { return "scheduler events"; }

  Status load(const CollectorContext& ctx) override {
    SchedConfig c = cfg_.sched;
    c.targets = ctx.targets;
    auto opened = SchedCollector::open(c, ctx.features);
    if (!opened) return opened.error();
    collector_.emplace(std::move(*opened));
    return collector_->load();
  }

  Status attach(const ResolvedTargets&) override {
    AITRACE_TRY(collector_.value().attach());
    for (const HookStatus& st : collector_.value().hooks().statuses()) {
      ropts_.hooks.emplace_back(st.event, st.state_text());
      if (st.state != HookStatus::State::attached) ropts_.hook_notes.push_back(st.event + " " + st.state_text());
    }
    return {};
  }

  void detach() override { collector_.value().detach(); }

  bool metrics(const SchedSnapshot& now, MetricStore& store) override {
    if (!metrics_)
      metrics_.emplace(cfg_.sched.group_by, [this](const std::set<uint64_t>& ids) { return cgroup_names_.paths(ids); });
    metrics_->add(now, store);
    return true;
  }

  const HookSet& hooks() const override { return collector_.value().hooks(); }

 private:
  Result<SchedSnapshot> read_value() override { return collector_.value().read(); }
  SchedSnapshot delta_value(const SchedSnapshot& now, const SchedSnapshot& before) const override {
    return sched_snapshot_delta(now, before);
  }
  std::string text(const SchedSnapshot& snap, const RenderContext& ctx) override {
    return sched_text(snap, options(snap, ctx));
  }
  void json(nlohmann::json& doc, const SchedSnapshot& snap, const RenderContext& ctx) override {
    doc.update(sched_json(snap, options(snap, ctx)));
  }
  const SchedReportOptions& options(const SchedSnapshot& snap, const RenderContext& ctx) {
    ropts_.interval = ctx.interval;
    ropts_.interval_index = ctx.interval_index;
    if (ropts_.group_by == SchedGroupBy::cgroup) {
      std::set<uint64_t> ids;
      for (const SchedGroup& g : snap.groups)
        if (!g.other) ids.insert(g.id);
      ropts_.cgroup_paths = cgroup_names_.paths(ids);  // resolved once per id for the whole run
    }
    return ropts_;
  }

  SchedTracerConfig cfg_;
  std::optional<SchedCollector> collector_;
  SchedReportOptions ropts_;
  CgroupPaths cgroup_names_;
  std::optional<SchedMetrics> metrics_;
};

}  // namespace

std::unique_ptr<Collector> make_sched_tracer(const SchedTracerConfig& cfg) { return std::make_unique<SchedTracer>(cfg); }

}  // namespace aitrace
