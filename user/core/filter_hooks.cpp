#include "aitrace/core/filter_hooks.hpp"

#include <bpf/libbpf.h>

namespace aitrace {

namespace {

constexpr const char* kForkEvent = "sched_process_fork";
constexpr const char* kFreeEvent = "sched_process_free";
constexpr const char* kExitEvent = "sched_process_exit";

void add_or_disable(HookSet& hooks, const KernelFeatures& features, bool wanted, const char* event, bpf_program* btf, bpf_program* raw,
                    std::optional<HookKind> only) {
  std::vector<HookCandidate> candidates;
  for (auto [kind, prog] : {std::pair{HookKind::tp_btf, btf}, std::pair{HookKind::raw_tp, raw}}) {
    if (!prog) continue;
    if (wanted && (!only || *only == kind))
      candidates.push_back({kind, prog});
    else
      bpf_program__set_autoload(prog, false);
  }
  if (!candidates.empty()) hooks.add(features, "sched", event, std::move(candidates));
}

}  // namespace

// sched_process_exit, which stands in for sched_process_free in a child pid namespace only, is not
// listed: the sched collector lists it already (doctor lists each event once per collector), and
// the others hook it only there.
std::vector<TracepointSpec> filter_tracepoints() { return {{"sched", {kForkEvent}}, {"sched", {kFreeEvent}}}; }

void add_filter_hooks(HookSet& hooks, const KernelFeatures& features, const ResolvedTargets& targets,
                      const FilterPrograms& progs, std::optional<HookKind> only) {
  add_or_disable(hooks, features, targets.cfg.follow_forks, kForkEvent, progs.fork_btf, progs.fork_raw, only);
  // In a child pid namespace the ids are forgotten at exit: at free they cannot be read any more
  // (bpf/common/filter.bpf.h, aitrace_filter_forget_at_exit).
  const bool by_id = targets.cfg.by_tgid || targets.cfg.by_tid;
  const bool child_ns = targets.cfg.pidns_level != 0;
  add_or_disable(hooks, features, by_id && !child_ns, kFreeEvent, progs.forget_btf, progs.forget_raw, only);
  add_or_disable(hooks, features, by_id && child_ns, kExitEvent, progs.forget_exit_btf, progs.forget_exit_raw, only);
}

}  // namespace aitrace
