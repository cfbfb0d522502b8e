// `aitrace sched` as a collector of the contract (aitrace/collector/collector.hpp): the sched
// collector, its interval deltas and its text/JSON reports.
#pragma once

#include "aitrace/collector/collector.hpp"
#include "aitrace/sched/sched_collector.hpp"

#include <memory>

namespace aitrace {

struct SchedTracerConfig {
  SchedConfig sched;  // targets are filled in at load
  size_t top = 10;    // text: groups shown
  bool hist = false;  // text: the histograms with bars instead of one row per group
  // Text output: each slow event printed on stdout as it arrives (not with --json, whose stdout
  // is JSON).
  bool slow_live = false;
  // Text report: list the kept slow events (the report goes to -o FILE, away from the live lines).
  bool slow_in_report = false;
  // serve: refreshes after a process (or thread) group exited before its series end (SchedMetrics).
  uint32_t metrics_retire_after = 0;
};

std::unique_ptr<Collector> make_sched_tracer(const SchedTracerConfig& cfg);

}  // namespace aitrace
