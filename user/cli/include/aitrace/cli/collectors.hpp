// The collectors this build has, in one list: a new collector adds one line to collectors.cpp
// (and its subcommand one register line in main.cpp).
#pragma once

#include "aitrace/core/tracepoint_catalog.hpp"

#include <vector>

namespace aitrace {

// Every collector's hook table as tracepoint data: doctor's catalog.
std::vector<CollectorTracepoints> collector_catalog();

}  // namespace aitrace
