// The terminal report of `aitrace migrate`.
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"
#include "aitrace/migrate/migrate_aggregate.hpp"

#include <fmt/format.h>

namespace aitrace {

namespace {

std::string counts_row(const std::string& label, const MigrateCounts& c) {
  return fmt::format("  {:<22} {:>8} {:>10} {:>8} {:>7} {:>8} {:>9} {:>10}\n", label, c.calls, c.succeeded, c.failed,
                     c.thp_succeeded, c.thp_failed, c.thp_split,
                     c.timed_calls ? format_ns(c.latency_sum_ns / c.timed_calls) : std::string("-"));
}

std::string counts_header(const std::string& first) {
  return fmt::format("  {:<22} {:>8} {:>10} {:>8} {:>7} {:>8} {:>9} {:>10}\n", first, "calls", "pages ok", "failed",
                     "thp ok", "thp fail", "thp split", "mean lat");
}

std::string reason_name(const MigrateReportContext& ctx, int32_t r) {
  return ctx.reasons ? ctx.reasons->name(r) : std::to_string(r);
}

std::string lost_text(const MigrateSnapshot& s) {
  std::string parts;
  auto add = [&](uint64_t n, const char* what) {
    if (!n) return;
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n, what);
  };
  add(s.lost.stats_full, "calls not counted (stats map full)");
  add(s.lost.inflight_full, "latencies unknown (in-flight map full)");
  add(s.lost.hist_full, "latency samples dropped (histogram map full)");
  add(s.lost.numa_full, "NUMA moves not counted (map full)");
  add(s.fork_overflow, "child processes not followed (pid filter full)");
  add(s.lost.no_start, "calls without a seen start (began before tracing; no latency)");
  return parts.empty() ? "none" : parts;
}

}  // namespace

std::string migrate_text(const MigrateSnapshot& s, const MigrateReportContext& ctx) {
  std::string out;
  MigrateCounts t = migrate_totals(s);
  if (!ctx.interval)  // interval headers are the driver's
    out += fmt::format("aitrace migrate: page migrations over {}, {}\n", format_ns(ctx.duration_ns), ctx.span);
  out += fmt::format("migrate_pages() calls: {}, pages moved: {}, failed: {}; THP moved: {}, failed: {}, split: {}\n",
                     t.calls, t.succeeded, t.failed, t.thp_succeeded, t.thp_failed, t.thp_split);
  out +=
      fmt::format("migration PTEs: {} set, {} removed (pages unmapped while they moved)\n", s.ptes_set, s.ptes_removed);
  out += fmt::format("lost: {}\n", lost_text(s));
  for (const auto& h : ctx.hooks)
    if (!h.attached) out += fmt::format("hook {}: {}\n", h.event, h.state);

  if (t.calls) {
    out += "\nby reason (the kernel's enum migrate_reason):\n";
    out += counts_header("reason");
    for (const auto& [r, c] : migrate_by_reason(s)) out += counts_row(reason_name(ctx, r), c);
    out += "\nby mode:\n";
    out += counts_header("mode");
    for (const auto& [m, c] : migrate_by_mode(s))
      out += counts_row(ctx.modes ? ctx.modes->name(m) : std::to_string(m), c);

    Histogram lat = migrate_latency(s);
    if (lat.count()) out += "\n" + histogram_text(lat, "migrate_pages() latency, all reasons");

    auto groups = migrate_groups(s, ctx.by);
    if (!groups.empty()) {
      if (ctx.by == MigrateGroupBy::process) {
        out +=
            "\nby process (the task that ran migrate_pages(): kcompactd* = background compaction, whose\n"
            "victims are not known; the faulting task for NUMA balancing; the allocating task for direct\n"
            "compaction):\n";
        out += counts_header("pid comm");
        for (const auto& g : groups) out += counts_row(fmt::format("{} {}", g.tgid, escape_text(g.comm)), g.counts);
      } else if (ctx.by == MigrateGroupBy::cgroup) {
        out += "\nby cgroup (of the task that ran migrate_pages()):\n";
        out += counts_header("cgroup");
        for (const auto& g : groups) {
          auto it = ctx.cgroup_paths.find(g.cgroup_id);
          out += counts_row(it != ctx.cgroup_paths.end() ? escape_text(it->second) : fmt::format("id {}", g.cgroup_id),
                            g.counts);
        }
      }
    }
  } else {
    out += "\nno page migrations in this period\n";
  }

  out += "\nNUMA balancing task moves:\n";
  if (ctx.host.numa_nodes <= 1) {
    out += "  " + numa_single_node_note() + "\n";
  } else {
    auto moves = migrate_numa_by_node(s, ctx.host);
    if (moves.empty()) out += "  none\n";
    for (const auto& m : moves)
      out += fmt::format("  {:<6} node {} -> node {}: {}\n", numa_kind_name(m.kind), m.src_node, m.dst_node, m.count);
  }

  auto remarks = migrate_remarks(s, ctx);
  if (!remarks.empty()) {
    out += "\nremarks:\n";
    for (const auto& r : remarks) out += "  - " + r + "\n";
  }
  return out;
}

std::vector<std::string> migrate_remarks(const MigrateSnapshot& s, const MigrateReportContext& ctx) {
  std::vector<std::string> out;
  static const EnumNames no_names;
  const EnumNames& reasons = ctx.reasons ? *ctx.reasons : no_names;
  const MigrateHost& h = ctx.host;
  if (h.numa_balancing && *h.numa_balancing != 0 && !h.gpu_devices.empty()) {
    std::string devs;
    for (const auto& d : h.gpu_devices) devs += (devs.empty() ? "" : ", ") + d;
    out.push_back(fmt::format(
        "NUMA balancing is on (kernel.numa_balancing={}) on a host with GPUs/accelerators ({}){}: it unmaps job "
        "memory to sample accesses and migrates pages while steps run; bind the job to the GPU's node "
        "(numactl/cpusets) and consider kernel.numa_balancing=0",
        *h.numa_balancing, devs, h.numa_nodes <= 1 ? " (no effect while there is a single node)" : ""));
  }
  if (uint64_t n = migrate_pages_for_reason(s, reasons, "numa_misplaced"))
    out.push_back(
        fmt::format("NUMA balancing moved {} pages (numa_misplaced): each took a hinting fault in the job", n));
  if (uint64_t n = migrate_pages_for_reason(s, reasons, "longterm_pin"))
    out.push_back(fmt::format(
        "{} pages were migrated for long-term pinning (FOLL_LONGTERM: GPU/RDMA memory registration, vfio, io_uring "
        "buffers): pages in ZONE_MOVABLE/CMA move before they are pinned, which slows ibv_reg_mr/cudaHostRegister; "
        "allocate such buffers outside movable memory",
        n));
  if (uint64_t n = migrate_pages_for_reason(s, reasons, "demotion")) {
    out.push_back(fmt::format(
        "{} pages were demoted to a slower memory tier (reclaim to CXL/slow nodes{}): if the job touches them again "
        "they are slow until promoted",
        n, h.demotion_enabled && *h.demotion_enabled ? ", demotion_enabled=true" : ""));
  }
  uint64_t kcompactd = 0;
  for (const auto& r : s.stats)
    if (r.comm.rfind("kcompactd", 0) == 0) kcompactd += r.counts.succeeded;
  if (kcompactd)
    out.push_back(fmt::format(
        "kcompactd (background compaction) moved {} pages: they are attributed to kcompactd, not to the processes "
        "whose memory moved (the job's pages may be among them)",
        kcompactd));
  MigrateCounts t = migrate_totals(s);
  if (t.failed)
    out.push_back(
        fmt::format("{} pages failed to migrate (pinned, busy, or under writeback): pinned GPU/RDMA "
                    "buffers are a common cause; the kernel retries, which costs time",
                    t.failed));
  return out;
}

}  // namespace aitrace
