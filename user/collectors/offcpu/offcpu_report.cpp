// Text, folded and JSON renderings of an OffcpuSnapshot.
#include "aitrace/offcpu/offcpu_report.hpp"

#include "aitrace/output/escape.hpp"
#include "aitrace/output/flame_svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace aitrace {

using nlohmann::json;

namespace {

// Rows are told apart by what they show: two kernel stack ids can differ only in the tracing
// frames cut from them (the tracepoint's static-call and iterator paths).
using Frames = std::vector<std::string>;
using StackKey = std::tuple<uint32_t, const std::string&, uint32_t, const Frames&, const Frames&, bool, uint32_t,
                            const std::string&, const Frames&, const Frames&>;
StackKey key_of(const OffcpuStack& s) {
  return {s.tgid,      s.comm,       s.state,      s.user_frames,       s.kernel_frames,
          s.has_waker, s.waker_tgid, s.waker_comm, s.waker_user_frames, s.waker_kernel_frames};
}

std::string seconds(uint64_t ns) {
  const auto v = static_cast<double>(ns);
  if (ns >= 1'000'000'000) return fmt::format("{:.3f} s", v / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:.3f} ms", v / 1e6);
  return fmt::format("{:.1f} us", v / 1e3);
}

// A frame inside a folded line: ';' separates frames and the last space the value, so a name
// (a C++ signature, a kernel string) cannot hold them as they are.
std::string folded_frame(std::string_view name) {
  std::string out = escape_text(name);
  std::replace(out.begin(), out.end(), ';', ':');
  return out;
}

json frames_json(const Frames& frames) {
  json out = json::array();
  for (const auto& f : frames) out.push_back(sanitize_utf8(f));
  return out;
}

uint64_t total_of(const OffcpuSnapshot& s) {
  uint64_t t = 0;
  for (const auto& st : s.stacks) t += st.total_ns;
  return t;
}

}  // namespace

uint64_t OffcpuSnapshot::truncated_stacks() const {
  return static_cast<uint64_t>(std::count_if(stacks.begin(), stacks.end(), [](const auto& s) { return s.truncated; }));
}

void offcpu_merge_same_frames(OffcpuSnapshot& s) {
  std::map<StackKey, size_t> seen;
  std::vector<OffcpuStack> out;
  out.reserve(s.stacks.size());
  for (auto& st : s.stacks) {
    auto it = seen.find(key_of(st));
    if (it == seen.end()) {
      out.push_back(std::move(st));
      seen.emplace(key_of(out.back()), out.size() - 1);
      continue;
    }
    OffcpuStack& into = out[it->second];
    into.total_ns += st.total_ns;
    into.count += st.count;
    into.truncated = into.truncated || st.truncated;
  }
  s.stacks = std::move(out);
}

OffcpuSnapshot offcpu_delta(const OffcpuSnapshot& now, const OffcpuSnapshot& before) {
  std::map<StackKey, const OffcpuStack*> prev;
  for (const auto& s : before.stacks) prev[key_of(s)] = &s;
  OffcpuSnapshot d;
  for (const auto& s : now.stacks) {
    OffcpuStack x = s;
    auto it = prev.find(key_of(s));
    if (it != prev.end()) {
      x.total_ns -= std::min(x.total_ns, it->second->total_ns);
      x.count -= std::min(x.count, it->second->count);
    }
    if (x.count) d.stacks.push_back(std::move(x));
  }
  auto sub = [&](__u64 offcpu_lost::*f) { d.lost.*f = now.lost.*f - std::min(now.lost.*f, before.lost.*f); };
  for (auto f : {&offcpu_lost::stack_collision, &offcpu_lost::stack_full, &offcpu_lost::stack_error,
                 &offcpu_lost::start_full, &offcpu_lost::totals_full, &offcpu_lost::notice_dropped,
                 &offcpu_lost::switch_in_missed})
    sub(f);
  d.fork_overflow = now.fork_overflow - std::min(now.fork_overflow, before.fork_overflow);
  d.switch_ins_repaired = now.switch_ins_repaired - std::min(now.switch_ins_repaired, before.switch_ins_repaired);
  return d;
}

std::vector<const OffcpuStack*> offcpu_ranked(const OffcpuSnapshot& s) {
  std::vector<const OffcpuStack*> out;
  out.reserve(s.stacks.size());
  for (const auto& st : s.stacks) out.push_back(&st);
  std::sort(out.begin(), out.end(), [](const OffcpuStack* a, const OffcpuStack* b) {
    if (a->total_ns != b->total_ns) return a->total_ns > b->total_ns;
    return key_of(*a) < key_of(*b);
  });
  return out;
}

std::string offcpu_state_name(uint32_t state) { return state == AITRACE_OFFCPU_BLOCK ? "block" : "sleep"; }

std::string offcpu_flame_graph(const OffcpuSnapshot& s) {
  std::vector<FlamePath> paths;
  paths.reserve(s.stacks.size());
  for (const OffcpuStack& st : s.stacks) paths.push_back({offcpu_path(st), st.total_ns / 1000});
  FlameGraphOptions o;
  o.title = "Off-CPU time";
  o.unit = "us";
  o.subtitle = offcpu_lost_line(s);
  return flame_graph_svg(paths, o);
}

std::string offcpu_lost_line(const OffcpuSnapshot& s) {
  const offcpu_lost& l = s.lost;
  return fmt::format(
      "lost: stack hash collisions {}, stack map full {}, stack errors {}, task slots full {}, totals map full {}, "
      "symbolization notices dropped {}, switch-ins missed {}, truncated stacks {}, forks not followed {}",
      l.stack_collision, l.stack_full, l.stack_error, l.start_full, l.totals_full, l.notice_dropped,
      l.switch_in_missed, s.truncated_stacks(), s.fork_overflow);
}

std::string offcpu_text(const OffcpuSnapshot& s, const OffcpuReportContext& ctx) {
  std::string out;
  const uint64_t total = total_of(s);
  auto ranked = offcpu_ranked(s);
  const size_t shown = std::min(ctx.top, ranked.size());
  if (!ctx.interval)  // interval headers are the driver's
    out += fmt::format("aitrace offcpu: {} traced, {}\n", seconds(ctx.duration_ns), ctx.span);
  out += fmt::format("off-CPU time: {} in {} stacks; top {} (states: {})\n", seconds(total), ranked.size(), shown,
                     ctx.states == AITRACE_OFFCPU_STATES_ALL ? "sleep, block" : offcpu_state_name(ctx.states));
  for (size_t i = 0; i < shown; i++) {
    const OffcpuStack& st = *ranked[i];
    const double share = total ? 100.0 * static_cast<double>(st.total_ns) / static_cast<double>(total) : 0.0;
    out += fmt::format("\n#{} {:>10} {:5.1f}%  {} [{}] {}, {} times{}\n", i + 1, seconds(st.total_ns), share,
                       escape_text(st.comm), st.tgid, offcpu_state_name(st.state), st.count,
                       st.truncated ? " (stack truncated)" : "");
    for (const auto& f : st.kernel_frames) out += fmt::format("    {}\n", escape_text(f));
    if (!st.kernel_frames.empty() && !st.user_frames.empty()) out += "    --\n";
    for (const auto& f : st.user_frames) out += fmt::format("    {}\n", escape_text(f));
    if (!st.has_waker) continue;
    out += fmt::format("  woken by {} [{}]:\n", escape_text(st.waker_comm), st.waker_tgid);
    for (const auto& f : st.waker_kernel_frames) out += fmt::format("    {}\n", escape_text(f));
    if (!st.waker_kernel_frames.empty() && !st.waker_user_frames.empty()) out += "    --\n";
    for (const auto& f : st.waker_user_frames) out += fmt::format("    {}\n", escape_text(f));
  }
  for (const auto& h : ctx.hooks)
    if (h.state.rfind("attached", 0) != 0) out += fmt::format("\n{}: {}\n", h.event, h.state);
  out += "\n" + offcpu_lost_line(s) + "\n";
  return out;
}

std::vector<std::string> offcpu_path(const OffcpuStack& st) {
  std::vector<std::string> path{st.comm};
  path.insert(path.end(), st.user_frames.rbegin(), st.user_frames.rend());
  path.insert(path.end(), st.kernel_frames.rbegin(), st.kernel_frames.rend());
  if (!st.has_waker) return path;
  path.emplace_back("--");
  path.insert(path.end(), st.waker_kernel_frames.begin(), st.waker_kernel_frames.end());
  path.insert(path.end(), st.waker_user_frames.begin(), st.waker_user_frames.end());
  path.push_back(st.waker_comm);
  return path;
}

std::string offcpu_folded(const OffcpuSnapshot& s) {
  std::map<std::string, uint64_t> lines;
  for (const auto& st : s.stacks) {
    std::string line;
    for (const auto& f : offcpu_path(st)) {
      if (!line.empty()) line += ';';
      line += folded_frame(f);
    }
    lines[line] += st.total_ns;
  }
  std::string out;
  for (const auto& [line, ns] : lines) {
    if (ns / 1000 == 0) continue;  // flamegraph.pl drops zero-width frames anyway
    out += fmt::format("{} {}\n", line, ns / 1000);
  }
  return out;
}

json offcpu_lost_json(const OffcpuSnapshot& s) {
  const offcpu_lost& l = s.lost;
  return json{{"stack_hash_collisions", l.stack_collision}, {"stack_map_full", l.stack_full},
              {"stack_errors", l.stack_error},           {"task_slots_full", l.start_full},
              {"totals_map_full", l.totals_full},        {"symbolization_notices_dropped", l.notice_dropped},
              {"switch_ins_missed", l.switch_in_missed},
              {"truncated_stacks", s.truncated_stacks()}, {"fork_follow_full", s.fork_overflow}};
}

json offcpu_json(const OffcpuSnapshot& s, const OffcpuReportContext& ctx) {
  json j;
  json states = json::array();
  if (ctx.states & AITRACE_OFFCPU_SLEEP) states.push_back("sleep");
  if (ctx.states & AITRACE_OFFCPU_BLOCK) states.push_back("block");
  j["states"] = states;
  j["min_ns"] = ctx.min_ns;
  if (ctx.max_ns != UINT64_MAX) j["max_ns"] = ctx.max_ns;
  j["total_ns"] = total_of(s);
  json stacks = json::array();
  auto ranked = offcpu_ranked(s);
  for (size_t i = 0; i < std::min(ctx.top, ranked.size()); i++) {
    const OffcpuStack& st = *ranked[i];
    json row{{"tgid", st.tgid},
              {"comm", sanitize_utf8(st.comm)},
              {"state", offcpu_state_name(st.state)},
              {"total_ns", st.total_ns},
              {"count", st.count},
              {"truncated", st.truncated},
              {"user_frames", frames_json(st.user_frames)},
              {"kernel_frames", frames_json(st.kernel_frames)}};
    if (st.has_waker)
      row["waker"] = json{{"tgid", st.waker_tgid},
                          {"comm", sanitize_utf8(st.waker_comm)},
                          {"user_frames", frames_json(st.waker_user_frames)},
                          {"kernel_frames", frames_json(st.waker_kernel_frames)}};
    stacks.push_back(std::move(row));
  }
  j["stacks"] = stacks;
  j["stacks_total"] = ranked.size();
  return j;
}

}  // namespace aitrace
