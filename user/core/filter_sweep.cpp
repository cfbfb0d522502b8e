#include "aitrace/core/filter_sweep.hpp"

#include "aitrace/core/log.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/core/run_loop.hpp"

#include <signal.h>

#include <cerrno>
#include <vector>

namespace aitrace {
namespace {

// kill(id, 0) finds a thread by its tid as well as a process by its pid, in the caller's pid
// namespace (the maps' ids are in it), and unlike /proc it is not hidden by hidepid.
bool gone(uint32_t id) { return ::kill(static_cast<pid_t>(id), 0) != 0 && errno == ESRCH; }

// The keys first, then the deletes: deleting while walking by get_next_key can restart the walk.
uint64_t sweep_map(bpf_map* map) {
  const int fd = bpf_map__fd(map);
  std::vector<uint32_t> stale;
  for_each_map_key<uint32_t>(fd, [&](uint32_t id) {
    if (gone(id)) stale.push_back(id);
  });
  uint64_t removed = 0;
  for (uint32_t id : stale) {
    // Asked again just before: the fork program may have added a child that took the id since.
    // (A pid reused before the first ask passes it; such a process is traced as if followed.)
    if (!gone(id)) continue;
    if (bpf_map_delete_elem(fd, &id) == 0) removed++;  // ENOENT: the BPF side forgot it meanwhile
  }
  return removed;
}

}  // namespace

uint64_t sweep_filter_maps(bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg) {
  if (cfg.pidns_level) return 0;
  uint64_t removed = 0;
  if (cfg.by_tgid) removed += sweep_map(tgids);
  if (cfg.by_tid) removed += sweep_map(tids);
  return removed;
}

void add_filter_sweep(RunLoop& loop, bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg, std::string who) {
  if (!cfg.by_tgid && !cfg.by_tid) return;
  loop.add_periodic(kFilterSweepEvery, [tgids, tids, cfg, who = std::move(who)]() -> Status {
    if (uint64_t n = sweep_filter_maps(tgids, tids, cfg))
      debug("{}: {} ids of tasks that are gone left the filter (their free reached no program)", who, n);
    return {};
  });
}

}  // namespace aitrace
