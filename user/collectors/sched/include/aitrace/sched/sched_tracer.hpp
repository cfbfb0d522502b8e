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
};

std::unique_ptr<Collector> make_sched_tracer(const SchedTracerConfig& cfg);

}  // namespace aitrace
