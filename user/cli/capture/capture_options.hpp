// `aitrace capture`'s options, their checked form, and what the capture and the flight recorder
// share (capture_command.cpp).
#pragma once

#include "aitrace/capture/bundle_dir.hpp"
#include "aitrace/capture/capture_session.hpp"
#include "aitrace/capture/trigger.hpp"
#include "aitrace/driver/driver.hpp"
#include "aitrace/eevdf/trace_record_window.hpp"
#include "aitrace/driver/options.hpp"
#include "aitrace/driver/registration.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace aitrace {

struct CaptureOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string output;  // -o DIR (not common.output: the driver writes no report file)
  bool force = false;
  bool trace = false;
  std::string by = "process";
  size_t top = 10;
  std::string slower = "1ms", slower_offcpu;
  std::string flight_recorder;        // --flight-recorder WINDOW; empty: a plain capture
  std::vector<std::string> triggers;  // --trigger EXPR
  uint32_t max_dumps = 10;
  std::string min_gap = "10s";
  std::string memory_limit = "256M";
};

struct CaptureConfig {
  SchedGroupBy group_by = SchedGroupBy::process;
  uint64_t slower_ns = 0, slower_offcpu_ns = 0;
  bool flight_recorder = false;
  std::chrono::nanoseconds window{0}, interval{0}, min_gap{0};
  std::vector<Trigger> triggers;
  uint64_t memory_limit = 0;  // bytes of RSS
  uint64_t trace_bytes = 0;   // --trace: the trace records' share of it (a quarter)
};

void add_capture_options(CLI::App* cmd, CaptureOptions& o);
// Checks the options (a bad one is a usage error before anything runs) and fills in the defaults:
// -d 30s and -i 1s.
Result<CaptureConfig> capture_config(CaptureOptions& o);

inline constexpr const char* kCaptureTraceFile = "trace.perfetto-trace";

// sched, the EEVDF summary, migrate, dma, offcpu; with a bundle, the trace and offcpu's graph
// are staged in it; with a window (the flight recorder's --trace), the trace records go there.
std::vector<std::unique_ptr<Collector>> capture_collectors(const CaptureOptions& o, const CaptureConfig& c,
                                                           const BundleDir* bundle, TraceRecordWindow* window);
// The doctor document, taken before tracing; it first makes the --bpf-token token, whose failure
// (a bad path) ends the capture in one line, as it does every other command.
Result<nlohmann::json> environment_document(const CommandContext& ctx, const CommonOptions& common);
RenderContext span_context(const ClockSample& start, const ClockSample& end);
DriverRun driver_run(const CaptureOptions& o, CaptureSession& session);
// --flight-recorder (flight_recorder.cpp).
int run_flight_recorder(CaptureOptions& o, const CaptureConfig& c, const CommandContext& ctx);

}  // namespace aitrace
