#include "aitrace/driver/registration.hpp"

namespace aitrace {

std::vector<CollectorTracepoints> collector_catalog() {
  std::vector<CollectorTracepoints> out;
  for (const auto& c : registered_collectors())
    if (c.tracepoints) out.push_back(c.tracepoints());
  return out;
}

}  // namespace aitrace
