// `aitrace migrate` as a collector of the contract (aitrace/collector/collector.hpp).
#pragma once

#include "aitrace/collector/collector.hpp"
#include "aitrace/migrate/migrate_report.hpp"

#include <memory>

namespace aitrace {

struct MigrateTracerConfig {
  MigrateGroupBy by = MigrateGroupBy::process;
};

std::unique_ptr<Collector> make_migrate_tracer(const MigrateTracerConfig& cfg);

}  // namespace aitrace
