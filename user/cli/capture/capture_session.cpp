#include "aitrace/capture/capture_session.hpp"

#include "aitrace/capture/capture_summary.hpp"
#include "aitrace/capture/report_html.hpp"
#include "aitrace/driver/report_envelope.hpp"
#include "aitrace/offcpu/offcpu_report.hpp"
#include "aitrace/output/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace aitrace {
namespace {

using nlohmann::json;

// The EEVDF trace reports inside sched's document, as `aitrace sched --eevdf` shows it.
bool joins_sched(const Collector& c) { return c.name() == "eevdf"; }

}  // namespace

Result<Snapshots> CaptureSession::read() const {
  Snapshots out;
  out.reserve(cs_.size());
  for (auto& c : cs_) {
    auto s = c->read();
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

Snapshots CaptureSession::delta(const Snapshots& now, const Snapshots& before) const {
  Snapshots out;
  out.reserve(cs_.size());
  for (size_t i = 0; i < cs_.size(); i++) out.push_back(cs_[i]->delta(*now[i], before.empty() ? nullptr : before[i].get()));
  return out;
}

int CaptureSession::index_of(std::string_view name) const {
  for (size_t i = 0; i < cs_.size(); i++)
    if (cs_[i]->name() == name) return static_cast<int>(i);
  return -1;
}

std::map<std::string, json> CaptureSession::documents(const Snapshots& snaps, const RenderContext& ctx,
                                                      const std::vector<std::string>* only) const {
  std::map<std::string, json> docs;
  const Collector* sched = nullptr;
  for (const auto& c : cs_)
    if (c->name() == "sched") sched = c.get();
  for (size_t i = 0; i < cs_.size(); i++) {
    Collector& c = *cs_[i];
    if (joins_sched(c) && sched) continue;
    if (only && std::find(only->begin(), only->end(), c.name()) == only->end()) continue;
    std::vector<const Collector*> members{&c};
    std::vector<size_t> index{i};
    if (&c == sched)
      for (size_t j = 0; j < cs_.size(); j++)
        if (joins_sched(*cs_[j])) {
          members.push_back(cs_[j].get());
          index.push_back(j);
        }
    json doc = report_envelope(std::span<const Collector* const>(members), *snaps[i], ctx);
    for (size_t k : index) cs_[k]->render_json(doc, *snaps[k], ctx);
    docs[std::string(c.name())] = std::move(doc);
  }
  return docs;
}

json CaptureSession::interval_point(const Snapshots& d, const RenderContext& ctx) const {
  for (size_t i = 0; i < cs_.size(); i++) {
    if (cs_[i]->name() != "sched") continue;
    std::vector<const Collector*> members{cs_[i].get()};
    json doc = report_envelope(std::span<const Collector* const>(members), *d[i], ctx);
    cs_[i]->render_json(doc, *d[i], ctx);
    return capture_interval_point(doc, 10);
  }
  return nullptr;
}

Result<std::vector<std::string>> CaptureSession::write_bundle(BundleDir& dir, const BundleParts& p) {
  std::vector<std::string> files = {"summary.json", "report.html", "metrics.prom", "metrics.openmetrics",
                                      "environment.json"};
  if (p.trace_staged) files.emplace_back("trace.perfetto-trace");
  if (!p.flame_svg.empty()) files.emplace_back("offcpu.svg");

  CaptureSummaryInput in;
  in.kind = p.kind;
  in.trigger = p.trigger;
  in.start_unix_ns = static_cast<uint64_t>(p.span.start.unix_ns);
  in.end_unix_ns = static_cast<uint64_t>(p.span.end.unix_ns);
  in.duration_ns = p.span.end.boot_ns - p.span.start.boot_ns;
  in.documents = p.documents;
  in.unavailable = unavailable_;
  in.intervals = p.intervals;
  in.environment = &environment_;
  in.files = files;
  const json summary = capture_summary(in);
  AITRACE_TRY(dir.write("summary.json", json_text(summary, 1) + "\n"));
  AITRACE_TRY(dir.write("environment.json", json_text(environment_, 1) + "\n"));

  // The same store and writer as `aitrace serve`: a collector adds its snapshot as deltas since
  // its previous add (none: since the start).
  if (p.metrics_from)
    for (size_t i = 0; i < cs_.size(); i++) cs_[i]->add_metrics(*(*p.metrics_from)[i], store_);
  // Two renderings of the one store. metrics.prom is the Prometheus text format: what
  // node_exporter's textfile collector reads from *.prom files, and what promtool checks (2.42 lints
  // OpenMetrics' counter families, named without _total, as counters that lack it).
  // metrics.openmetrics is OpenMetrics 1.0, byte for byte what serve answers a scraper that asks
  // for application/openmetrics-text.
  std::string prom, openmetrics;
  store_.render(MetricFormat::prometheus, prom);
  AITRACE_TRY(dir.write("metrics.prom", prom));
  store_.render(MetricFormat::openmetrics, openmetrics);
  AITRACE_TRY(dir.write("metrics.openmetrics", openmetrics));

  if (!p.flame_svg.empty()) AITRACE_TRY(dir.write("offcpu.svg", p.flame_svg));
  AITRACE_TRY(dir.write("report.html", report_html({summary, environment_, p.flame_svg, top_})));
  AITRACE_TRY(dir.commit());
  return files;
}

std::string offcpu_flame_svg(const Snapshot& offcpu) {
  return offcpu_flame_graph(snapshot_value<OffcpuSnapshot>(offcpu));
}

std::string bundle_guide(const std::string& dir, const std::vector<std::string>& files) {
  static constexpr std::array<std::pair<const char*, const char*>, 7> kHow = {{
      {"report.html", "the report: open it in a browser (xdg-open {}/report.html); it prints"},
      {"summary.json", "every collector's report and the top findings (jq . {}/summary.json)"},
      {"metrics.prom", "every histogram and counter in the Prometheus text format (promtool check metrics < {}/metrics.prom)"},
      {"metrics.openmetrics", "the same metrics in OpenMetrics 1.0, as serve answers an OpenMetrics scraper ({}/metrics.openmetrics)"},
      {"environment.json", "the doctor report of this host (jq . {}/environment.json)"},
      {"trace.perfetto-trace", "the scheduling trace: open it in ui.perfetto.dev, or trace_processor {}/trace.perfetto-trace"},
      {"offcpu.svg", "the off-CPU flame graph: open it in a browser ({}/offcpu.svg)"},
  }};
  std::string out = fmt::format("aitrace: bundle written to {}/\n", dir);
  for (const auto& [name, how] : kHow)
    for (const std::string& f : files)
      if (f == name) out += fmt::format("  {:<22}{}\n", name, fmt::format(fmt::runtime(how), dir));
  return out;
}

}  // namespace aitrace
