// Renderings of a dma snapshot: JSON (the collector's keys of aitrace.dma/2, docs/dma.md; the
// driver adds the envelope) and terminal text.
#pragma once

#include "aitrace/dma/dma.hpp"
#include "aitrace/core/histogram.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace aitrace {

struct DmaHookState {
  std::string event;   // "dma:dma_map_phys"
  std::string state;   // "attached" | "absent" | the failure text
  std::string detail;  // flavour or reason, for the text report
};

struct DmaReport {
  std::vector<DmaHookState> hooks;
  DmaSnapshot data;
  uint64_t duration_ns = 0;  // span the counts cover
  std::string span;          // its wall-clock text, for the final report's header
  bool interval = false;     // counts are for one interval, not the whole run
  std::string filter;     // how fence waits were filtered ("" = whole system)
};

std::vector<DmaHookState> dma_hook_states(const HookSet& hooks);
Histogram dma_histogram(const aitrace_dma_hist& h);

nlohmann::json dma_report_json(const DmaReport& r);
// The envelope's `lost` object.
nlohmann::json dma_lost_json(const DmaSnapshot& s);
std::string dma_report_text(const DmaReport& r);

}  // namespace aitrace
