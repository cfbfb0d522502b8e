// The hooks that keep a collector's process filter current (bpf/common/filter.bpf.h):
// sched_process_fork adds the children of followed processes (`-- CMD`), sched_process_free
// forgets processes (-p, `-- CMD`) and threads (-t) that are gone, so their ids can be reused
// without being traced (in a child pid namespace sched_process_exit does, as its ids are gone at
// free).
#pragma once

#include "aitrace/core/hooks.hpp"
#include "aitrace/core/targets.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"

namespace aitrace {

struct FilterPrograms {
  bpf_program* fork_btf = nullptr;  // null: that flavour is not offered
  bpf_program* fork_raw = nullptr;
  bpf_program* forget_btf = nullptr;
  bpf_program* forget_raw = nullptr;
  bpf_program* forget_exit_btf = nullptr;
  bpf_program* forget_exit_raw = nullptr;
};

// The FilterPrograms of a skeleton whose object ends with AITRACE_FILTER_PROGRAMS(prefix).
#define AITRACE_FILTER_PROGRAMS_OF(skel, prefix)                                                        \
  ::aitrace::FilterPrograms {                                                                         \
    (skel)->progs.prefix##_fork_btf, (skel)->progs.prefix##_fork_raw, (skel)->progs.prefix##_forget_btf, \
        (skel)->progs.prefix##_forget_raw, (skel)->progs.prefix##_forget_exit_btf,                      \
        (skel)->progs.prefix##_forget_exit_raw                                                          \
  }

// The events add_filter_hooks() can hook, for each collector's catalog entry.
std::vector<TracepointSpec> filter_tracepoints();

// Before load: adds the hooks these targets need to `hooks` and switches off the autoload of the
// programs they do not. `only` restricts every hook to that flavour (a collector that picked
// one flavour for all its events).
void add_filter_hooks(HookSet& hooks, const KernelFeatures& features, const ResolvedTargets& targets,
                      const FilterPrograms& progs, std::optional<HookKind> only = std::nullopt);

}  // namespace aitrace
