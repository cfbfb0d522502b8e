// Drops from a collector's pid and tid filters the ids whose task is gone. The BPF side forgets a
// reaped id in its sched_process_free program, but that program runs from an RCU softirq on
// whatever task is current, and where no BPF program runs in that context (docs/sched.md, "Frees
// no program sees") the id would stay until the run ends: a filter slot taken, and a process that
// reuses the pid traced.
#pragma once

#include "aitrace/filter.h"

#include <bpf/libbpf.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace aitrace {

class RunLoop;

// Removes the ids of filter_tgids and filter_tids that name no task (kill(id, 0) fails with
// ESRCH: a zombie still has its id, and is kept until it is reaped). Returns how many went.
// Nothing without a pid or tid filter, or in a child pid namespace, where the BPF side forgets
// ids at exit instead (bpf/common/filter.bpf.h). A pid reused before the sweep names a task
// again and stays: that process is traced as if followed.
uint64_t sweep_filter_maps(bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg);

// The same for a collector's skeleton (every object that includes bpf/common/filter.bpf.h).
template <typename Skel>
uint64_t sweep_filter_maps(Skel* skel) {
  return sweep_filter_maps(skel->maps.filter_tgids, skel->maps.filter_tids, skel->rodata->filter_cfg);
}

// How often a run sweeps: a reaped id stays at most this long after the free no program saw.
inline constexpr std::chrono::seconds kFilterSweepEvery{1};

// Sweeps from the run loop every kFilterSweepEvery; `who` names the collector in the debug line
// that says what was removed. The maps must outlive the loop's run.
void add_filter_sweep(RunLoop& loop, bpf_map* tgids, bpf_map* tids, const aitrace_filter_cfg& cfg, std::string who);

// The same for a collector's skeleton (every object that includes bpf/common/filter.bpf.h).
template <typename Skel>
void add_filter_sweep(RunLoop& loop, Skel* skel, std::string who) {
  add_filter_sweep(loop, skel->maps.filter_tgids, skel->maps.filter_tids, skel->rodata->filter_cfg, std::move(who));
}

}  // namespace aitrace
