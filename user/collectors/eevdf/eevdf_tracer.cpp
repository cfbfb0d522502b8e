#include "aitrace/eevdf/eevdf_tracer.hpp"

namespace aitrace {
namespace {

// The summary is cumulative state the decoder keeps up to date as records arrive, so a
// snapshot is a moment marker: rendering reads the collector's state at that moment.
struct EevdfMoment {};

}  // namespace

EevdfTracer::EevdfTracer(const EevdfTracerConfig& cfg) : cfg_(cfg) {}
EevdfTracer::~EevdfTracer() = default;

std::string_view EevdfTracer::traces() const { return cfg_.summary ? "EEVDF scheduling" : "a Perfetto trace"; }

std::vector<std::string> EevdfTracer::output_paths() const {
  if (cfg_.trace.trace_path.empty()) return {};
  return {cfg_.trace.trace_path};
}

Status EevdfTracer::load(const CollectorContext& ctx) {
  auto c = SchedTraceCollector::open(ctx.targets, cfg_.trace, ctx.features, ctx.window);
  if (!c) return c.error();
  collector_ = std::move(*c);
  return {};
}

Status EevdfTracer::attach(const ResolvedTargets&) { return collector_->attach(); }
void EevdfTracer::add_to(RunLoop& loop) { collector_->add_to(loop); }
void EevdfTracer::start() { collector_->start(); }
void EevdfTracer::stop() { collector_->stop(); }
void EevdfTracer::detach() { collector_->detach(); }
Status EevdfTracer::finish() { return collector_->finish(); }

Result<std::unique_ptr<Snapshot>> EevdfTracer::read() {
  // A snapshot covers the records up to now: those still in the rings below their wake-up mark
  // (a quarter of a ring: thousands of records on a quiet CPU) are decoded first. The flight
  // recorder's dumps read through here before they write the window's trace.
  AITRACE_TRY(collector_->drain());
  return make_snapshot(EevdfMoment{});
}

std::unique_ptr<Snapshot> EevdfTracer::delta(const Snapshot&, const Snapshot*) const {
  return make_snapshot(EevdfMoment{});  // no interval view: reports show the run so far
}

std::string EevdfTracer::render_text(const Snapshot&, const RenderContext& ctx) {
  if (ctx.interval && !cfg_.in_intervals) return {};
  return eevdf_text(*collector_, cfg_.summary, cfg_.top, cfg_.hist);
}

void EevdfTracer::render_json(nlohmann::json& doc, const Snapshot&, const RenderContext& ctx) {
  if (ctx.interval && !cfg_.in_intervals) return;
  add_eevdf_json(doc, *collector_, cfg_.summary);
}

const HookSet& EevdfTracer::hooks() const { return collector_->hooks(); }

// Only where the EEVDF trace is a document's first collector (`aitrace sched-trace`); beside sched
// the same counts are in `trace`.
nlohmann::json EevdfTracer::lost_json(const Snapshot&) const {
  const SchedTraceStats st = collector_->stats();
  return {{"ring_buffer_full", st.lost}, {"no_ring", st.no_ring}, {"program_busy", st.missed}};
}

std::unique_ptr<Collector> make_eevdf_tracer(const EevdfTracerConfig& cfg) { return std::make_unique<EevdfTracer>(cfg); }

void add_eevdf_json(nlohmann::json& doc, const SchedTraceCollector& c, bool summary) {
  if (summary) {
    const EevdfSummary& sum = c.summary();
    nlohmann::json all = sum.json();
    doc["eevdf"] = {{"kernel", all["kernel"]}, {"threads", std::move(all["groups"])}, {"exited", std::move(all["exited"])}};
    if (doc.contains("groups")) {
      for (auto& g : doc["groups"]) {
        if (!g.contains("tid") || !g["tid"].is_number()) continue;
        if (const EevdfThread* t = sum.thread(g["tid"].get<uint32_t>())) g["eevdf"] = sum.thread_json(*t);
      }
    }
  }
  doc["trace"] = c.stats().json();
  if (!c.trace_path().empty()) doc["trace"]["file"] = c.trace_path();
}

std::string eevdf_text(const SchedTraceCollector& c, bool summary, size_t top, bool hist) {
  std::string out = summary ? c.summary().text(top, hist) : std::string();
  out += c.stats().text();
  if (!c.trace_path().empty()) out += "Perfetto trace: " + c.trace_path() + " (open in ui.perfetto.dev)\n";
  return out;
}

}  // namespace aitrace
