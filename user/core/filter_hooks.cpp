#include "aitrace/core/filter_hooks.hpp"

#include <bpf/libbpf.h>

namespace aitrace {

namespace {

void add_or_disable(HookSet& hooks, bool wanted, const char* event, bpf_program* btf, bpf_program* raw,
                    std::optional<HookKind> only) {
  std::vector<HookCandidate> candidates;
  for (auto [kind, prog] : {std::pair{HookKind::tp_btf, btf}, std::pair{HookKind::raw_tp, raw}}) {
    if (!prog) continue;
    if (wanted && (!only || *only == kind))
      candidates.push_back({kind, prog});
    else
      bpf_program__set_autoload(prog, false);
  }
  if (!candidates.empty()) hooks.add("sched", event, std::move(candidates));
}

}  // namespace

void add_filter_hooks(HookSet& hooks, const ResolvedTargets& targets, const FilterPrograms& progs,
                      std::optional<HookKind> only) {
  add_or_disable(hooks, targets.cfg.follow_forks, "sched_process_fork", progs.fork_btf, progs.fork_raw, only);
  add_or_disable(hooks, targets.cfg.by_tgid || targets.cfg.by_tid, "sched_process_free", progs.forget_btf,
                 progs.forget_raw, only);
}

}  // namespace aitrace
