// Doctor's two renderings. Every string may come from the system (release strings, mount
// points, cgroup paths): text goes through escape_text, JSON through sanitize_utf8, here at the
// single exit point rather than at each read.
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/output/escape.hpp"

#include <fmt/format.h>

namespace aitrace {
namespace {

constexpr size_t kLabelWidth = 20;
constexpr size_t kStatusWidth = 8;
constexpr size_t kIndent = 2 + kLabelWidth + 1 + kStatusWidth + 1;
constexpr size_t kWidth = 110;

std::string value_text(const nlohmann::ordered_json& v) {
  if (v.is_null()) return "unknown";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ",") + value_text(e);
    return out.empty() ? "none" : out;
  }
  return json_text(v);
}

// Word-wraps `text` into lines of at most kWidth, indented by kIndent (continuations by `hang` more).
void append_wrapped(std::string& out, const std::string& text, size_t hang = 0) {
  std::string pad(kIndent, ' ');
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t sp = text.find(' ', start);
    if (sp == std::string::npos) sp = text.size();
    std::string word = text.substr(start, sp - start);
    start = sp + 1;
    if (!line.empty() && pad.size() + line.size() + 1 + word.size() > kWidth) {
      out += pad + line + "\n";
      line.clear();
      pad = std::string(kIndent + hang, ' ');
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += pad + line + "\n";
}

nlohmann::ordered_json sanitized(const nlohmann::ordered_json& v) {
  if (v.is_string()) return sanitize_utf8(v.get<std::string>());
  if (v.is_array()) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& e : v) a.push_back(sanitized(e));
    return a;
  }
  if (v.is_object()) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [k, e] : v.items()) o[sanitize_utf8(k)] = sanitized(e);
    return o;
  }
  return v;
}

}  // namespace

std::string doctor_text(const DoctorReport& r) {
  std::string out = "aitrace doctor: what this host offers a tracer and an AI workload\n";
  for (const auto& s : r.sections) {
    out += "\n" + escape_text(s.title) + "\n";
    for (const auto& f : s.findings) {
      std::string text = f.status == FindingStatus::unknown ? "unknown: " + f.unknown
                         : f.text.empty()                   ? value_text(f.value)
                                                            : f.text;
      std::string head = fmt::format("  {:<{}} {:<{}} ", escape_text(f.label), kLabelWidth,
                                     finding_status_name(f.status), kStatusWidth);
      // The value's first line shares the label's line; a long value wraps under it.
      std::string body;
      append_wrapped(body, escape_text(text));
      out += head + body.substr(kIndent);
      for (const auto& d : f.details) append_wrapped(out, escape_text(d), 2);
      if (!f.remark.empty()) append_wrapped(out, "- " + escape_text(f.remark), 2);
    }
  }
  return out;
}

std::string doctor_json(const DoctorReport& r) {
  nlohmann::ordered_json j;
  j["schema"] = "aitrace.doctor/1";
  for (const auto& s : r.sections) {
    nlohmann::ordered_json sec = nlohmann::ordered_json::object();
    for (const auto& f : s.findings) {
      nlohmann::ordered_json o;
      o["status"] = finding_status_name(f.status);
      o["value"] = f.status == FindingStatus::unknown ? nlohmann::ordered_json() : f.value;
      o["text"] = f.status == FindingStatus::unknown ? "unknown" : f.text.empty() ? value_text(f.value) : f.text;
      if (f.status == FindingStatus::unknown) o["unknown"] = f.unknown;
      if (!f.source.empty()) o["source"] = f.source;
      if (!f.remark.empty()) o["remark"] = f.remark;
      if (!f.details.empty()) o["details"] = f.details;
      sec[f.id] = std::move(o);
    }
    j[s.id] = std::move(sec);
  }
  return json_text(sanitized(j), 2) + "\n";
}

}  // namespace aitrace
