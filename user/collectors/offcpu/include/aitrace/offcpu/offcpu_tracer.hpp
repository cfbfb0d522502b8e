// `aitrace offcpu` as a collector of the contract (aitrace/collector/collector.hpp).
#pragma once

#include "aitrace/collector/collector.hpp"
#include "aitrace/offcpu/offcpu_collector.hpp"

#include <memory>
#include <string>

namespace aitrace {

struct OffcpuTracerConfig {
  OffcpuConfig bpf;
  size_t top = 10;
  bool folded = false;   // the report is folded stacks instead of the top-N text
  std::string svg_path;  // --svg: a flame graph of the whole run, written at the end
};

std::unique_ptr<Collector> make_offcpu_tracer(const OffcpuTracerConfig& cfg);

}  // namespace aitrace
