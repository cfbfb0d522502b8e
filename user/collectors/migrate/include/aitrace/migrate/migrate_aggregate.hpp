// Views of a MigrateSnapshot the text and JSON renderings share: totals, per reason, per mode,
// groups for --by, latency histograms, NUMA moves by node pair.
#pragma once

#include "aitrace/core/histogram.hpp"
#include "aitrace/migrate/migrate_report.hpp"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace aitrace {

MigrateCounts migrate_totals(const MigrateSnapshot& s);
std::map<int32_t, MigrateCounts> migrate_by_reason(const MigrateSnapshot& s);
std::map<uint32_t, MigrateCounts> migrate_by_mode(const MigrateSnapshot& s, std::optional<int32_t> reason = {});

struct MigrateGroup {
  uint32_t tgid = 0;       // --by process
  std::string comm;        // --by process
  uint64_t cgroup_id = 0;  // --by cgroup
  int32_t reason = 0;      // --by reason
  MigrateCounts counts;
  std::map<int32_t, MigrateCounts> reasons;
};
// Busiest first (pages moved, then calls). Empty for MigrateGroupBy::none.
std::vector<MigrateGroup> migrate_groups(const MigrateSnapshot& s, MigrateGroupBy by);

// Latency of migrate_pages() calls, one reason or all; sum from the per-call stats.
Histogram migrate_latency(const MigrateSnapshot& s, std::optional<int32_t> reason = {});

struct NumaNodeMove {
  uint32_t kind;
  int src_node, dst_node;
  uint64_t count;
};
std::vector<NumaNodeMove> migrate_numa_by_node(const MigrateSnapshot& s, const MigrateHost& host);
const char* numa_kind_name(uint32_t kind);

// Pages moved (succeeded) for the reason the kernel names `name`, 0 when none or unnamed.
uint64_t migrate_pages_for_reason(const MigrateSnapshot& s, const EnumNames& reasons, std::string_view name);

}  // namespace aitrace
