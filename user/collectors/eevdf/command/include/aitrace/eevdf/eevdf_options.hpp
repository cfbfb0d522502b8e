// The EEVDF trace options (--eevdf, --trace FILE, --trace-buffer SIZE), shared by `aitrace sched`
// and the hidden standalone `aitrace sched-trace`.
#pragma once

#include "aitrace/eevdf/eevdf_tracer.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace aitrace {

struct EevdfCliOptions {
  bool eevdf = false;        // per-thread EEVDF summary
  std::string trace;         // Perfetto trace file
  std::string trace_buffer;  // per-CPU ring size: 4M, 512K, 65536
  bool enabled() const { return eevdf || !trace.empty(); }
};

void add_eevdf_options(CLI::App* cmd, EevdfCliOptions& o);
Result<SchedTraceOptions> sched_trace_options(const EevdfCliOptions& o);

}  // namespace aitrace
