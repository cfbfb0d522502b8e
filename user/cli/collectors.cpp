#include "aitrace/cli/collectors.hpp"

#include "aitrace/dma/dma.hpp"
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/sched/sched_collector.hpp"

namespace aitrace {

std::vector<CollectorTracepoints> collector_catalog() {
  return {sched_tracepoints(), eevdf_tracepoints(), migrate_tracepoints(), dma_tracepoints()};
}

}  // namespace aitrace
