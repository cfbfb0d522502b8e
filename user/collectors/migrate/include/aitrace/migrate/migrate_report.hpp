// What `aitrace migrate` reports: the kernel's aggregates read back (MigrateSnapshot), facts
// about the host that the remarks need (MigrateHost), and the text/JSON renderings of the
// aitrace.migrate/2 schema (docs/migrate.md).
#pragma once

#include "aitrace/migrate_events.h"
#include "aitrace/migrate/migrate_names.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aitrace {

struct MigrateCounts {
  uint64_t calls = 0, succeeded = 0, failed = 0, thp_succeeded = 0, thp_failed = 0, thp_split = 0,
           large_folio_split = 0, timed_calls = 0, latency_sum_ns = 0;
  MigrateCounts& operator+=(const MigrateCounts& o);
  MigrateCounts& operator-=(const MigrateCounts& o);
};

struct MigrateStatsRow {
  uint32_t tgid = 0;
  int32_t reason = 0;
  uint32_t mode = 0;
  uint64_t cgroup_id = 0;
  std::string comm;  // raw kernel bytes; escaped when rendered
  MigrateCounts counts;
};

struct NumaMoveRow {
  uint32_t kind = AITRACE_NUMA_MOVE;
  int32_t src_cpu = -1, dst_cpu = -1;
  uint32_t tgid = 0;
  uint64_t count = 0;
};

struct MigrateSnapshot {
  std::vector<MigrateStatsRow> stats;
  std::map<int32_t, std::map<uint32_t, uint64_t>> latency;  // reason -> bucket -> count
  std::vector<NumaMoveRow> numa;
  migrate_lost lost{};
  uint64_t fork_overflow = 0;
  uint64_t ptes_set = 0, ptes_removed = 0;
};

// now - before, for interval reports (every counter only grows while tracing).
MigrateSnapshot snapshot_delta(const MigrateSnapshot& now, const MigrateSnapshot& before);

struct MigrateHost {
  int numa_nodes = 1;
  std::map<int, int> cpu_node;           // cpu -> node, from /sys/devices/system/cpu/cpu*/node*
  std::optional<int> numa_balancing;     // kernel.numa_balancing, when readable
  std::optional<bool> demotion_enabled;  // /sys/kernel/mm/numa/demotion_enabled
  std::vector<std::string> gpu_devices;  // /dev/nvidia*, /dev/kfd, /dev/accel/* found
  int node_of(int cpu) const;
};
MigrateHost read_migrate_host();
// Paths (relative to the cgroup v2 mount) of the given cgroup ids; ids not found are left out.

enum class MigrateGroupBy { process, cgroup, reason, none };

struct MigrateHookState {
  std::string event;  // "migrate:mm_migrate_pages"
  std::string state;  // "attached (tp_btf)", "absent: ..."
  bool attached = false;
};

struct MigrateReportContext {
  MigrateGroupBy by = MigrateGroupBy::process;
  uint64_t duration_ns = 0;
  bool interval = false;  // an interval report (deltas) rather than the whole run
  std::string span;       // the final report's wall-clock span, for its header
  const EnumNames* reasons = nullptr;
  const EnumNames* modes = nullptr;
  MigrateHost host;
  std::vector<MigrateHookState> hooks;
  std::map<uint64_t, std::string> cgroup_paths;  // cgroup id -> path, for --by cgroup
};

// The collector's keys of the document (the driver adds the envelope), its `lost` object, and
// the name of its grouping.
nlohmann::json migrate_json(const MigrateSnapshot& s, const MigrateReportContext& ctx);
nlohmann::json migrate_lost_json(const MigrateSnapshot& s);
const char* migrate_group_by_name(MigrateGroupBy by);
std::string migrate_text(const MigrateSnapshot& s, const MigrateReportContext& ctx);
// What the report says instead of an empty NUMA table on a single-node host.
std::string numa_single_node_note();
// Advice for AI hosts (NUMA balancing next to GPUs, long-term pinning, demotion, ...).
std::vector<std::string> migrate_remarks(const MigrateSnapshot& s, const MigrateReportContext& ctx);

}  // namespace aitrace
