#include "aitrace/dma/dma_tracer.hpp"

#include "aitrace/dma/dma.hpp"
#include "aitrace/dma/dma_metrics.hpp"
#include "aitrace/dma/dma_report.hpp"
#include "aitrace/output/clock_text.hpp"

namespace aitrace {
namespace {

class DmaTracer final : public TypedCollector<DmaSnapshot> {
 public:
  explicit DmaTracer(const DmaTracerConfig& cfg) : cfg_(cfg) {}

  std::string_view name() const override { return "dma"; }
  std::string_view traces() const override { return "DMA, IOMMU, swiotlb and dma-fence events"; }

  Status load(const CollectorContext& ctx) override {
    auto c = DmaCollector::open(DmaConfig{ctx.targets}, ctx.features, ctx.window);
    if (!c) return c.error();
    collector_ = std::move(*c);
    return {};
  }
  Status attach(const ResolvedTargets& targets) override {
    AITRACE_TRY(collector_->attach(targets));
    if (collector_->hooks().attached_count() == 0)
      return make_error(ErrorKind::unsupported,
                        "none of the dma, iommu, swiotlb or dma_fence tracepoints could be attached (Linux 6.12+ has "
                        "the dma ones); run with -v for details");
    hooks_ = dma_hook_states(collector_->hooks());
    return {};
  }
  void start() override { collector_->start(); }
  void stop() override { collector_->stop(); }
  void add_to(RunLoop& loop) override { collector_->add_to(loop); }
  void detach() override { collector_->detach(); }

  // serve: DMA traffic per device and direction, mapping lifetimes, dma-fence waits and
  // execution (dma_metrics.hpp).
  bool metrics(const DmaSnapshot& now, MetricStore& store) override {
    metrics_.add(now, store);
    return true;
  }

  const HookSet& hooks() const override { return collector_->hooks(); }
  std::string_view schema() const override { return "aitrace.dma/2"; }

 private:
  Result<DmaSnapshot> read_value() override { return collector_->snapshot(); }
  DmaSnapshot delta_value(const DmaSnapshot& now, const DmaSnapshot& before) const override {
    return dma_delta(now, before);
  }
  std::string text(const DmaSnapshot& s, const RenderContext& rc) override {
    return dma_report_text(report(s, rc)) + (rc.interval ? "\n" : "");
  }
  void json(nlohmann::json& doc, const DmaSnapshot& s, const RenderContext& rc) override {
    doc.update(dma_report_json(report(s, rc)));
  }
  nlohmann::json lost(const DmaSnapshot& s) const override { return dma_lost_json(s); }
  DmaReport report(const DmaSnapshot& s, const RenderContext& rc) const {
    return DmaReport{hooks_, s, static_cast<uint64_t>(rc.duration.count()),
                     rc.interval ? std::string() : clock_span_text(rc.start.unix_ns, rc.end.unix_ns, true), rc.interval,
                     cfg_.filter};
  }

  DmaTracerConfig cfg_;
  std::unique_ptr<DmaCollector> collector_;
  std::vector<DmaHookState> hooks_;
  DmaMetrics metrics_;
};

}  // namespace

std::unique_ptr<Collector> make_dma_tracer(const DmaTracerConfig& cfg) { return std::make_unique<DmaTracer>(cfg); }

}  // namespace aitrace
