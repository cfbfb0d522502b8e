#include "aitrace/core/filter_sweep.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/core/run_loop.hpp"

#include <bpf/bpf.h>
#include <signal.h>

#include <cerrno>
#include <vector>

namespace aitrace {
namespace {

// The map's keys first, then the deletes: deleting while walking by get_next_key can restart
// the walk from the first key.
Result<uint64_t> sweep_map(bpf_map* map, const char* what) {
  const int fd = bpf_map__fd(map);
  std::vector<uint32_t> gone;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  int err = 0;
  while ((err = bpf_map_get_next_key(fd, prev, &next)) == 0) {
    key = next;
    prev = &key;
    // kill(id, 0) finds a thread by its tid as well as a process by its pid (the pid namespace is
    // the caller's, as the maps' ids are), and unlike /proc it is not hidden by hidepid.
    if (::kill(static_cast<pid_t>(key), 0) != 0 && errno == ESRCH) gone.push_back(key);
  }
  if (err != -ENOENT) return make_error(ErrorKind::runtime, "walking the {} filter: {}", what, bpf_error_text(err));
  uint64_t removed = 0;
  for (uint32_t id : gone)
    if (bpf_map_delete_elem(fd, &id) == 0) removed++;  // ENOENT: the BPF side forgot it meanwhile
  return removed;
}

}  // namespace

Result<uint64_t> sweep_filter_maps(bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg) {
  if (cfg.pidns_level) return uint64_t{0};
  uint64_t removed = 0;
  if (cfg.by_tgid) {
    auto n = sweep_map(tgids, "pid");
    if (!n) return n.error();
    removed += *n;
  }
  if (cfg.by_tid) {
    auto n = sweep_map(tids, "tid");
    if (!n) return n.error();
    removed += *n;
  }
  return removed;
}

void add_filter_sweep(RunLoop& loop, bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg, std::string who) {
  if (!cfg.by_tgid && !cfg.by_tid) return;
  loop.add_periodic(kFilterSweepEvery, [tgids, tids, cfg, who = std::move(who)]() -> Status {
    auto n = sweep_filter_maps(tgids, tids, cfg);
    if (!n) return n.error();
    if (*n) debug("{}: {} ids of tasks that are gone left the filter (their free reached no program)", who, *n);
    return {};
  });
}

}  // namespace aitrace
