// `aitrace dma` as a collector of the contract (aitrace/collector/collector.hpp).
#pragma once

#include "aitrace/collector/collector.hpp"

#include <memory>
#include <string>

namespace aitrace {

struct DmaTracerConfig {
  std::string filter;  // how fence waits are filtered, for the report ("" = whole system)
};

std::unique_ptr<Collector> make_dma_tracer(const DmaTracerConfig& cfg);

}  // namespace aitrace
