// A sched collector for the bpf tests: forced onto one hook flavour, loaded, attached, counting.
#pragma once

#include "aitrace/sched/sched_collector.hpp"
#include "test_support.hpp"

namespace aitrace::test {

inline Result<SchedCollector> attached_collector(const char* flavour, const SchedConfig& cfg) {
  auto collector = SchedCollector::open(cfg, features(flavour));
  if (!collector) return collector.error();
  AITRACE_TRY(collector->load());
  AITRACE_TRY(collector->attach());
  collector->start();
  return collector;
}

}  // namespace aitrace::test
