#include "aitrace/offcpu/offcpu_tracer.hpp"

#include "aitrace/core/output_file.hpp"
#include "aitrace/output/clock_text.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace aitrace {
namespace {

class OffcpuTracer final : public TypedCollector<OffcpuSnapshot> {
 public:
  explicit OffcpuTracer(OffcpuTracerConfig cfg) : cfg_(std::move(cfg)) {
    ctx_.states = cfg_.bpf.states;
    ctx_.min_ns = cfg_.bpf.min_ns;
    ctx_.max_ns = cfg_.bpf.max_ns;
    ctx_.top = cfg_.top;
  }

  std::string_view name() const override { return "offcpu"; }
  std::string_view traces() const override { return "off-CPU stacks"; }
  std::vector<std::string> output_paths() const override {
    if (cfg_.svg_path.empty()) return {};
    return {cfg_.svg_path};
  }

  Status load(const CollectorContext& ctx) override {
    // The SVG file is opened first, so an unwritable path fails before anything runs.
    if (!cfg_.svg_path.empty()) {
      auto f = OutputFile::create(cfg_.svg_path);
      if (!f) return f.error();
      svg_ = std::make_unique<OutputFile>(std::move(*f));
    }
    auto c = OffcpuCollector::load(cfg_.bpf, ctx.targets, ctx.features, ctx.window);
    if (!c) return c.error();
    collector_ = std::move(*c);
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
  Status finish() override {
    AITRACE_TRY(collector_->drain());
    if (!svg_) return {};
    auto snap = collector_->snapshot();
    if (!snap) return snap.error();
    AITRACE_TRY(svg_->write(offcpu_flame_graph(*snap)));
    return svg_->commit();
  }
  const HookSet& hooks() const override { return collector_->hooks(); }
  std::string_view schema() const override { return "aitrace.offcpu/2"; }
  std::optional<std::string> group_by() const override { return "stack"; }

 private:
  Result<OffcpuSnapshot> read_value() override { return collector_->snapshot(); }
  OffcpuSnapshot delta_value(const OffcpuSnapshot& now, const OffcpuSnapshot& before) const override {
    return offcpu_delta(now, before);
  }
  std::string text(const OffcpuSnapshot& snap, const RenderContext& rc) override {
    if (cfg_.folded) {
      // Folded stacks have no place for the drops: they go to stderr beside them.
      fmt::print(stderr, "aitrace: offcpu {}\n", offcpu_lost_line(snap));
      return offcpu_folded(snap);
    }
    return offcpu_text(snap, context(rc)) + (rc.interval ? "\n" : "");
  }
  void json(nlohmann::json& doc, const OffcpuSnapshot& snap, const RenderContext& rc) override {
    doc.update(offcpu_json(snap, context(rc)));
  }
  nlohmann::json lost(const OffcpuSnapshot& snap) const override { return offcpu_lost_json(snap); }

  const OffcpuReportContext& context(const RenderContext& rc) {
    ctx_.interval = rc.interval;
    if (!rc.interval) ctx_.span = clock_span_text(rc.start.unix_ns, rc.end.unix_ns, true);
    ctx_.duration_ns = static_cast<uint64_t>(rc.duration.count());
    return ctx_;
  }

  OffcpuTracerConfig cfg_;
  OffcpuReportContext ctx_;
  std::unique_ptr<OffcpuCollector> collector_;
  std::unique_ptr<OutputFile> svg_;
};

}  // namespace

std::unique_ptr<Collector> make_offcpu_tracer(const OffcpuTracerConfig& cfg) {
  return std::make_unique<OffcpuTracer>(cfg);
}

}  // namespace aitrace
