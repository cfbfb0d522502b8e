#include "aitrace/capture/report_html.hpp"

#include "aitrace/capture/capture_summary.hpp"
#include "aitrace/capture/svg_plot.hpp"
#include "aitrace/output/clock_text.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>

namespace aitrace {
namespace {

using nlohmann::json;

// Printable on A4 and legible on a laptop: one column, plots at most 640 px wide.
constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{color:#a40000}.muted{color:#666}figure{display:inline-block;margin:.4em}
.plot{background:#fff}.ptitle{font-size:12px;font-weight:600}.tick{font-size:10px;fill:#444}
.grid{stroke:#eee}.axis{stroke:#444}.bar{fill:#4e79a7}.mark{stroke-dasharray:3,2;stroke-width:1.2}
.m0{stroke:#59a14f;fill:#59a14f}.m1{stroke:#edc948;fill:#b08800}.m2{stroke:#e15759;fill:#e15759}
.m3{stroke:#b07aa1;fill:#b07aa1}.m4{stroke:#222;fill:#222}.mlabel{font-size:9px;stroke:none}
.flame svg{max-width:100%;height:auto}
@media print{body{max-width:none;margin:0}figure,table,.flame{break-inside:avoid}h2{break-after:avoid}}
)";

std::string esc(const std::string& s) { return html_escape(escape_text(s)); }

std::string ns_cell(const json& h, const char* key) {
  if (!h.is_object() || num(h, "count") == 0) return "<td class=n>-</td>";
  uint64_t v = h.contains(key) ? h[key].get<uint64_t>() : 0;
  if (std::string(key) == "max" && !h.contains("max")) v = num(h, "max_bound");
  return "<td class=n>" + format_ns(v) + "</td>";
}

// Every latency histogram object (unit ns) under `path`; sched's `groups` only for the first `top`.
void find_histograms(const json& v, const std::string& path, size_t top, std::vector<std::pair<std::string, const json*>>& out) {
  if (v.is_object()) {
    if (v.contains("buckets") && v.contains("p99")) {
      if (str(v, "unit") == "ns") out.emplace_back(path, &v);
      return;
    }
    for (const auto& [k, child] : v.items()) find_histograms(child, std::string(path).append("/").append(k), top, out);
  } else if (v.is_array()) {
    const bool groups = path.size() >= 7 && path.compare(path.size() - 7, 7, "/groups") == 0;
    for (size_t i = 0; i < v.size() && (!groups || i < top); i++) find_histograms(v[i], path + "/" + std::to_string(i), top, out);
  }
}

// "sched: groups 0 (cc1 (12)) runq_wakeup": a plot's title from its path.
std::string histogram_title(const std::string& collector, const json& doc, const std::string& path) {
  std::string title = collector + path;
  if (path.rfind("/groups/", 0) == 0) {
    const size_t i = std::stoul(path.substr(8));
    const json& g = doc["groups"][i];
    const size_t last = path.rfind('/');
    title = fmt::format("{} {}: {}", collector, capture_group_label(g, doc.value("group_by", "process")),
                        path.substr(last + 1));
  }
  return title;
}

void findings_section(std::string& out, const json& summary) {
  out += "<h2>Findings</h2><ul>";
  for (const json& f : summary.value("findings", json::array()))
    out += fmt::format("<li class=\"{}\"><b>{}</b>: {}</li>", str(f, "severity") == "warn" ? "warn" : "",
                       esc(str(f, "source")), esc(str(f, "text")));
  out += "</ul>";
}

void environment_section(std::string& out, const json& env) {
  // What changes the meaning of scheduling and DMA numbers (docs/capture.md, "report.html").
  static constexpr std::array<std::pair<const char*, const char*>, 12> kShown = {{
      {"kernel", "release"}, {"scheduler", "kind"}, {"scheduler", "timer_hz"}, {"scheduler", "base_slice_ns"},
      {"scheduler", "cpus_online"}, {"memory", "numa_balancing"}, {"memory", "nodes"}, {"memory", "thp_enabled"},
      {"dma", "iommu"}, {"dma", "iommu_default_domain"}, {"dma", "swiotlb_forced"}, {"dma", "swiotlb_pool"}}};
  out += "<h2>Environment</h2><table><tr><th>finding</th><th>value</th><th>meaning</th></tr>";
  auto row = [&](const std::string& section, const std::string& id, const json& f) {
    const std::string status = str(f, "status");
    out += fmt::format("<tr class=\"{}\"><td>{}.{}</td><td>{}</td><td>{}</td></tr>",
                       status == "warn" || status == "problem" ? "warn" : "", esc(section), esc(id),
                       esc(!str(f, "text").empty() ? str(f, "text") : f.contains("value") ? f["value"].dump() : std::string()),
                       esc(f.contains("remark") ? str(f, "remark") : str(f, "unknown")));
  };
  for (const auto& [section, id] : kShown)
    if (env.contains(section) && env[section].contains(id)) row(section, id, env[section][id]);
  for (const auto& [section, findings] : env.items()) {
    if (!findings.is_object()) continue;
    for (const auto& [id, f] : findings.items()) {
      if (!f.is_object()) continue;
      const std::string status = str(f, "status");
      const bool shown = std::any_of(kShown.begin(), kShown.end(), [&](const auto& s) { return section == s.first && id == s.second; });
      if ((status == "warn" || status == "problem") && !shown) row(section, id, f);
    }
  }
  out += "</table><p class=muted>The whole doctor report is environment.json.</p>";
}

void series_section(std::string& out, const json& summary, const json& sched, size_t top) {
  const json intervals = summary.value("intervals", json::array());
  if (intervals.empty()) return;
  const std::string by = sched.value("group_by", "process");
  std::vector<SeriesLine> lines;
  for (const json& g : sched.value("groups", json::array())) {
    if (lines.size() == std::min<size_t>(top, 5)) break;
    if (num(g["histograms"]["runq_wakeup"], "count") == 0) continue;
    lines.push_back({capture_group_label(g, by), {}});
  }
  const uint64_t t0 = num(summary, "start_unix_ns");
  double x_max = 0;
  for (const json& p : intervals) {
    const double x = static_cast<double>(num(p, "end_unix_ns") - t0) / 1e9;
    x_max = std::max(x_max, x);
    for (const json& g : p["groups"])
      for (SeriesLine& l : lines)
        if (l.name == str(g, "group")) l.points.emplace_back(x, num(g, "p99_ns"));
  }
  out += "<h2>Run-queue wait p99 per interval</h2>";
  out += series_svg(lines, x_max, "p99 run-queue wait after wakeup, busiest groups");
  out += fmt::format("<p class=muted>{} intervals; a group has a point where it was among the {} groups with "
                     "the highest p99 of that interval.</p>",
                     intervals.size(), intervals.front()["groups"].size() >= 10 ? "10" : "kept");
}

void groups_section(std::string& out, const json& sched, size_t top) {
  const std::string by = sched.value("group_by", "process");
  out += fmt::format("<h2>Top groups (by {}, longest run-queue wait first)</h2>", esc(by));
  out += "<table><tr><th>group</th><th>switches</th><th>wakeup wait p50</th><th>p99</th><th>max</th>"
         "<th>preempted wait p99</th><th>on-CPU p99</th><th>sleep p99</th><th>block p99</th></tr>";
  size_t n = 0;
  for (const json& g : sched.value("groups", json::array())) {
    if (n++ == top) break;
    const json& h = g["histograms"];
    out += fmt::format("<tr><td>{}</td><td class=n>{}</td>{}{}{}{}{}{}{}</tr>", esc(capture_group_label(g, by)),
                       num(g["counters"], "switches"), ns_cell(h["runq_wakeup"], "p50"),
                       ns_cell(h["runq_wakeup"], "p99"), ns_cell(h["runq_wakeup"], "max"),
                       ns_cell(h["runq_preempt"], "p99"), ns_cell(h["oncpu"], "p99"),
                       ns_cell(h["offcpu_sleep"], "p99"), ns_cell(h["offcpu_block"], "p99"));
  }
  out += fmt::format("</table><p class=muted>{} groups in all (summary.json has every one).</p>",
                     sched.value("groups", json::array()).size());
}

void slow_events_section(std::string& out, const json& sched) {
  if (!sched.contains("slow_events")) return;
  std::vector<const json*> ev;
  for (const json& e : sched["slow_events"]) ev.push_back(&e);
  std::stable_sort(ev.begin(), ev.end(), [](const json* a, const json* b) {
    return num(*a, "wait_ns") > num(*b, "wait_ns");
  });
  const json& s = sched["slow_events_summary"];
  out += fmt::format("<h2>Slow events</h2><p>{} events (kept {}, {} not kept); the 30 longest:</p>",
                     num(s, "total"), sched["slow_events"].size(), num(s, "not_kept"));
  out += "<table><tr><th>time</th><th>kind</th><th>task</th><th>wait</th><th>cpu</th><th>instead / waker</th></tr>";
  for (size_t i = 0; i < ev.size() && i < 30; i++) {
    const json& e = *ev[i];
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{} ({})</td><td class=n>{}</td><td class=n>{}</td><td>{}{}</td></tr>",
                       clock_span_text(static_cast<int64_t>(num(e, "unix_ns")), static_cast<int64_t>(num(e, "unix_ns")), false),
                       esc(str(e, "kind")), esc(str(e, "comm")), num(e, "tid"),
                       format_ns(num(e, "wait_ns")), num(e, "cpu"), esc(str(e, "prev_comm")),
                       num(e, "holder_ns")
                           ? fmt::format("; held by {} for {}", esc(str(e, "holder_comm")),
                                         format_ns(e["holder_ns"].get<uint64_t>()))
                           : std::string());
  }
  out += "</table>";
}

void lost_section(std::string& out, const json& summary) {
  out += "<h2>Lost events</h2><table><tr><th>collector</th><th>count</th><th>value</th></tr>";
  for (const auto& [name, doc] : summary["collectors"].items()) {
    const json lost = doc.value("lost", json::object());
    for (const auto& [k, v] : lost.items()) {
      const bool bad = v.is_number_unsigned() && v.get<uint64_t>() > 0;
      out += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td class=n>{}</td></tr>", bad ? "warn" : "", esc(name),
                         esc(k), esc(v.dump()));
    }
  }
  const json unavailable = summary.value("unavailable", json::object());
  for (const auto& [name, why] : unavailable.items())
    out += fmt::format("<tr class=warn><td>{}</td><td>not captured</td><td>{}</td></tr>", esc(name),
                       esc(why.get<std::string>()));
  out += "</table>";
}

// Inline SVG needs no namespace declaration in HTML; without it the page holds no URL at all.
std::string inline_svg(std::string svg) {
  for (const std::string attr : {R"( xmlns="http://www.w3.org/2000/svg")", R"( xmlns:xlink="http://www.w3.org/1999/xlink")"})
    for (size_t at; (at = svg.find(attr)) != std::string::npos;) svg.erase(at, attr.size());
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find("?>") + 2);
  return svg;
}

}  // namespace

std::string report_html(const ReportHtmlInput& in) {
  const json& s = in.summary;
  const json& collectors = s["collectors"];
  const uint64_t start = num(s, "start_unix_ns"), end = num(s, "end_unix_ns");
  std::string out = "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>aitrace capture ";
  out += html_escape(clock_span_text(start, end, true));
  out += "</title><style>";
  out += kStyle;
  out += "</style></head><body>";
  out += fmt::format("<h1>aitrace {}</h1><p>{} ({}){}", esc(s.value("kind", "capture")),
                     html_escape(clock_span_text(start, end, true)), format_ns(num(s, "duration_ns")),
                     in.environment.contains("kernel") && in.environment["kernel"].contains("release")
                         ? ", kernel " + esc(str(in.environment["kernel"]["release"], "text"))
                         : std::string());
  if (!s["trigger"].is_null()) out += "; trigger: " + esc(s["trigger"].value("reason", s["trigger"].dump()));
  out += fmt::format(". Collectors: {}.</p>", esc([&] {
                       std::string names;
                       for (const auto& [k, v] : collectors.items()) names += (names.empty() ? "" : ", ") + k;
                       return names;
                     }()));
  findings_section(out, s);
  environment_section(out, in.environment);
  if (collectors.contains("sched")) {
    series_section(out, s, collectors["sched"], in.top);
    groups_section(out, collectors["sched"], in.top);
  }
  out += "<h2>Latency histograms</h2><p class=muted>Log time axis; dashed lines: p50, p90, p99, p99.9, max.</p>";
  size_t plotted = 0;
  for (const auto& [name, doc] : collectors.items()) {
    std::vector<std::pair<std::string, const json*>> hs;
    find_histograms(doc, "", in.top, hs);
    for (const auto& [path, h] : hs) {
      std::string svg = histogram_svg(*h, histogram_title(name, doc, path));
      if (svg.empty()) svg = "<p class=muted>" + html_escape(histogram_title(name, doc, path)) + ": no samples</p>";
      out += fmt::format("<figure class=hist data-hist=\"{}\">{}</figure>", html_escape(name + path), svg);
      plotted++;
    }
  }
  if (!plotted) out += "<p>No latency histogram in this capture.</p>";
  if (collectors.contains("sched")) slow_events_section(out, collectors["sched"]);
  if (!in.flame_svg.empty())
    out += "<h2>Off-CPU flame graph</h2><div class=flame>" + inline_svg(in.flame_svg) +
           "</div><p class=muted>Hover a frame for its time; offcpu.svg is the same graph.</p>";
  lost_section(out, s);
  out += "<h2>Files</h2><ul>";
  for (const json& f : s.value("files", json::array())) out += "<li>" + esc(f.get<std::string>()) + "</li>";
  out += "</ul></body></html>\n";
  return out;
}

}  // namespace aitrace
