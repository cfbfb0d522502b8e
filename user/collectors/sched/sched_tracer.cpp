#include "aitrace/sched/sched_tracer.hpp"

#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/output/clock_text.hpp"
#include "aitrace/sched/sched_metrics.hpp"
#include "aitrace/sched/sched_owner_groups.hpp"
#include "aitrace/sched/sched_report.hpp"

#include <cstdio>
#include <optional>
#include <set>

namespace aitrace {
namespace {

class SchedTracer final : public TypedCollector<SchedSnapshot> {
 public:
  explicit SchedTracer(const SchedTracerConfig& cfg) : cfg_(cfg) {
    ropts_.group_by = cfg.sched.group_by;
    ropts_.top = cfg.top;
    ropts_.hist = cfg.hist;
  }

  std::string_view name() const override { return "sched"; }
  std::string_view traces() const override { return "scheduler events"; }

  Status load(const CollectorContext& ctx) override {
    SchedConfig c = cfg_.sched;
    c.targets = ctx.targets;
    auto opened = SchedCollector::open(c, ctx.features);
    if (!opened) return opened.error();
    collector_.emplace(std::move(*opened));
    if (cfg_.slow_live) collector_->on_slow_event([this](const SlowEvent& e) { print_live(e); });
    return collector_->load(ctx.window);
  }

  Status attach(const ResolvedTargets&) override {
    AITRACE_TRY(collector_.value().attach());
    for (const HookStatus& st : collector_.value().hooks().statuses())
      if (st.state != HookStatus::State::attached) ropts_.hook_notes.push_back(st.event + " " + st.state_text());
    return {};
  }

  void add_to(RunLoop& loop) override {
    if (collector_) collector_->add_to(loop);
  }

  void start() override { collector_.value().start(); }
  void stop() override { collector_.value().stop(); }
  void detach() override { collector_.value().detach(); }
  // The events still in the ring after detach belong to the window: the final report has them.
  Status finish() override { return collector_ ? collector_->drain_slow_events() : Status{}; }

  bool metrics(const SchedSnapshot& now, MetricStore& store) override {
    if (!metrics_)
      metrics_.emplace(
          cfg_.sched.group_by, [this](const std::set<uint64_t>& ids) { return cgroup_names_.paths(ids); },
          cfg_.metrics_retire_after);
    metrics_->add(now, store);
    return true;
  }

  const HookSet& hooks() const override { return collector_.value().hooks(); }
  std::string_view schema() const override { return "aitrace.sched/2"; }
  std::optional<std::string> group_by() const override { return sched_group_by_name(cfg_.sched.group_by); }

 private:
  // The ring first, then the maps: no event is newer than the histograms it is compared with.
  Result<SchedSnapshot> read_value() override {
    if (!collector_) return make_error(ErrorKind::runtime, "sched: read before load");
    AITRACE_TRY(collector_->drain_slow_events());
    return collector_->read();
  }
  SchedSnapshot delta_value(const SchedSnapshot& now, const SchedSnapshot& before) const override {
    return sched_snapshot_delta(now, before);
  }
  std::string text(const SchedSnapshot& raw, const RenderContext& ctx) override {
    const SchedSnapshot& snap = *shown(raw);
    std::string out = sched_text(snap, options(snap, ctx));
    std::string slow = slow_events_text(snap.slow, snap.lost.slow_events, cfg_.slow_in_report && !ctx.interval);
    if (!slow.empty()) out += "\n" + slow;
    return out;
  }
  void json(nlohmann::json& doc, const SchedSnapshot& raw, const RenderContext& ctx) override {
    const SchedSnapshot& snap = *shown(raw);
    doc.update(sched_json(snap, options(snap, ctx)));
    slow_events_json(doc, snap.slow);
  }
  // One line per event on stdout as it is read (the run loop drains the ring at least every
  // 100 ms), the column header before the first. A failed stdout stops only these lines.
  void print_live(const SlowEvent& e) {
    if (live_failed_) return;
    std::string text;
    if (!live_header_done_) {
      SlowEvents config;
      config.runq_threshold_ns = cfg_.sched.slower_ns;
      config.offcpu_threshold_ns = cfg_.sched.slower_offcpu_ns;
      text = slow_event_header(config);
      live_header_done_ = true;
    }
    text += slow_event_line(e);
    live_failed_ = std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0;
    if (live_failed_) std::clearerr(stdout);
  }
  nlohmann::json lost(const SchedSnapshot& snap) const override { return sched_lost_json(snap.lost); }
  const SchedReportOptions& options(const SchedSnapshot& snap, const RenderContext& ctx) {
    ropts_.interval = ctx.interval;
    ropts_.duration_ns = static_cast<uint64_t>(ctx.duration.count());
    if (!ctx.interval) ropts_.span = clock_span_text(ctx.start.unix_ns, ctx.end.unix_ns, true);
    if (ropts_.group_by == SchedGroupBy::cgroup) {
      std::set<uint64_t> ids;
      for (const SchedGroup& g : snap.groups)
        if (!g.other) ids.insert(g.id);
      ropts_.cgroup_paths = cgroup_names_.paths(ids);  // resolved once per id for the whole run
    }
    return ropts_;
  }

  // --by container|pod: the kernel's cgroup groups merged per container or pod; any other --by:
  // the snapshot itself.
  const SchedSnapshot* shown(const SchedSnapshot& snap) {
    const SchedGroupBy by = cfg_.sched.group_by;
    if (by != SchedGroupBy::container && by != SchedGroupBy::pod) return &snap;
    if (!owners_) owners_.emplace(by == SchedGroupBy::pod);
    std::set<uint64_t> ids;
    for (const SchedGroup& g : snap.groups)
      if (!g.other) ids.insert(g.id);
    merged_ = sched_group_by_owner(snap, owners_.value(), cgroup_names_.paths(ids));
    ropts_.owners = merged_.owner;
    return &merged_.snapshot;
  }

  SchedTracerConfig cfg_;
  std::optional<SchedCollector> collector_;
  SchedReportOptions ropts_;
  CgroupPaths cgroup_names_;
  std::optional<CgroupOwners> owners_;
  SchedOwnerGroups merged_;
  std::optional<SchedMetrics> metrics_;
  bool live_header_done_ = false;
  bool live_failed_ = false;
};

}  // namespace

std::unique_ptr<Collector> make_sched_tracer(const SchedTracerConfig& cfg) { return std::make_unique<SchedTracer>(cfg); }

}  // namespace aitrace
