// `aitrace capture`: every collector this host supports in one driver run, written as one
// incident bundle (docs/capture.md): summary.json, metrics.prom, environment.json, report.html,
// and with --trace the Perfetto trace. With --flight-recorder it keeps the recent past instead and
// dumps a bundle on SIGUSR1 or when a --trigger fires (flight_recorder.hpp).
#include "capture_options.hpp"
#include "commands.hpp"

#include "aitrace/capture/bundle_dir.hpp"
#include "aitrace/capture/capture_session.hpp"
#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/driver/driver.hpp"
#include "aitrace/dma/dma_tracer.hpp"
#include "aitrace/eevdf/eevdf_tracer.hpp"
#include "aitrace/migrate/migrate_tracer.hpp"
#include "aitrace/offcpu/offcpu_tracer.hpp"
#include "aitrace/sched/sched_tracer.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace aitrace {
namespace {

using nlohmann::json;

}  // namespace

std::vector<std::unique_ptr<Collector>> capture_collectors(const CaptureOptions& o, const CaptureConfig& c,
                                                           const BundleDir* bundle, TraceRecordWindow* window) {
  SchedTracerConfig sched;
  sched.sched.group_by = c.group_by;
  sched.sched.slower_ns = c.slower_ns;
  sched.sched.slower_offcpu_ns = c.slower_offcpu_ns;
  sched.top = o.top;
  std::vector<std::unique_ptr<Collector>> cs;
  cs.push_back(make_sched_tracer(sched));
  EevdfTracerConfig eevdf;
  eevdf.summary = true;
  eevdf.top = o.top;
  // The flight recorder's trace records live in its memory window, not in a file.
  if (o.trace && bundle) eevdf.trace.trace_path = bundle->staged_path(kCaptureTraceFile);
  eevdf.trace.window = window;
  cs.push_back(make_eevdf_tracer(eevdf));
  cs.push_back(make_migrate_tracer({MigrateGroupBy::process}));
  cs.push_back(make_dma_tracer({}));
  OffcpuTracerConfig offcpu;
  offcpu.top = 50;  // the JSON document's stacks; the flame graph has every one (offcpu_flame_svg)
  cs.push_back(make_offcpu_tracer(offcpu));
  return cs;
}

Result<json> environment_document(const CommandContext& ctx, const CommonOptions& common) {
  AITRACE_TRY(use_bpf_token(common.bpf_token));
  // The doctor's hook probes fail on purpose (fentry, kprobes): libbpf's messages only with -v.
  set_log_level(common.verbose ? LogLevel::debug : LogLevel::warn);
  route_libbpf_log();
  DoctorOptions d;
  d.catalog = ctx.catalog;
  d.bpf_token = common.bpf_token;  // the probes load as the collectors will
  return json::parse(doctor_json(run_doctor(d)), nullptr, false);
}

RenderContext span_context(const ClockSample& start, const ClockSample& end) {
  RenderContext rc;
  rc.start = start;
  rc.end = end;
  rc.duration = std::chrono::nanoseconds(end.boot_ns - start.boot_ns);
  return rc;
}

// The collectors that may be missing on a host: sched is the capture's core, the rest are dropped
// with their reason (summary.json's `unavailable`) when they cannot load or attach.
DriverRun driver_run(const CaptureOptions& o, CaptureSession& session) {
  DriverRun run{o.common, o.targets};
  run.final_report = false;
  run.may_drop = [&session](const Collector& c, const Error& why) {
    if (c.name() == "sched") return false;
    session.note_unavailable(std::string(c.name()), why.message);
    fmt::print(stderr, "aitrace: capture goes on without {}: {}\n", c.name(), why.message);
    return true;
  };
  return run;
}

namespace {

int run_capture(CaptureOptions& o, const CommandContext& ctx) {
  auto cfg = capture_config(o);
  if (!cfg) return report_error(cfg.error());
  if (cfg->flight_recorder) return run_flight_recorder(o, *cfg, ctx);
  // The bundle's temporary directory exists before anything is traced: an unwritable or existing
  // -o fails at once.
  auto bundle = BundleDir::create(o.output, o.force);
  if (!bundle) return report_error(bundle.error());
  auto env = environment_document(ctx, o.common);
  if (!env) return report_error(env.error());
  auto cs = capture_collectors(o, *cfg, &*bundle, nullptr);
  CaptureSession session(cs, std::move(*env), o.top);

  DriverRun run = driver_run(o, session);
  ClockSample interval_start{};
  Snapshots previous;
  std::vector<json> intervals;
  run.on_started = [&](RunLoop&, const ClockSample& attached) { interval_start = attached; };
  run.on_interval = [&]() -> Status {
    const ClockSample now = sample_clocks();
    auto snaps = session.read();
    if (!snaps) return snaps.error();
    RenderContext rc = span_context(interval_start, now);
    rc.interval = true;
    rc.interval_index = intervals.size() + 1;
    json point = session.interval_point(session.delta(*snaps, previous), rc);
    if (!point.is_null()) intervals.push_back(std::move(point));
    previous = std::move(*snaps);
    interval_start = now;
    return {};
  };
  run.on_final = [&](const ClockSample& start, const ClockSample& end) -> Status {
    auto snaps = session.read();
    if (!snaps) return snaps.error();
    CaptureSession::BundleParts parts;
    parts.span = span_context(start, end);
    parts.documents = session.documents(*snaps, parts.span);
    parts.intervals = intervals;
    parts.metrics_from = &*snaps;
    parts.trace_staged = o.trace && !session.unavailable().count("eevdf");
    if (const int i = session.index_of("offcpu"); i >= 0) parts.flame_svg = offcpu_flame_svg(*(*snaps)[static_cast<size_t>(i)]);
    auto files = session.write_bundle(*bundle, parts);
    if (!files) return files.error();
    std::fputs(bundle_guide(bundle->path(), *files).c_str(), stdout);
    std::fflush(stdout);
    return {};
  };
  return run_collectors(run, cs);
}

}  // namespace

void register_capture_command(CLI::App& app, const CommandContext& ctx) {
  auto opts = std::make_shared<CaptureOptions>();
  auto* cmd = app.add_subcommand("capture",
                                 "Record every collector at once into an incident bundle (summary.json, report.html, "
                                 "metrics.prom, environment.json); --flight-recorder keeps the recent past");
  add_capture_options(cmd, *opts);
  cmd->callback([opts, ctx] { *ctx.exit_code = run_capture(*opts, ctx); });
}

}  // namespace aitrace
