// The EEVDF trace options (--eevdf, --trace FILE, --trace-buffer SIZE), shared by `aitrace sched`
// and the hidden standalone `aitrace sched-trace`.
#pragma once

#include "aitrace/eevdf/sched_trace.hpp"

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

// Adds the EEVDF trace to a report document: "trace" (records, lost per CPU, file) always;
// with `summary`, "eevdf": {"kernel", "threads":[{tid,tgid,comm,eevdf}]} and, in every group
// that is one thread (`tid` set, as with --by thread), that thread's object as groups[].eevdf.
void add_eevdf_json(nlohmann::json& doc, const SchedTraceCollector& c, bool summary);
// The text counterpart: the per-thread summary (with `summary`), the trace line, the file.
std::string eevdf_text(const SchedTraceCollector& c, bool summary);

}  // namespace aitrace
