#include "aitrace/migrate/migrate_collector.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/core/filter_hooks.hpp"
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/migrate/migrate_names.hpp"
#include "migrate.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace aitrace {

using MigrateSkeleton = AITRACE_SKELETON_TYPE(migrate);

namespace {

using MigrateProgs = decltype(migrate_bpf::progs);

// The hook table, in attach order: load() and migrate_tracepoints() (doctor's catalog) both read
// it. Each event has a tp_btf, a raw_tp and a classic tracepoint program.
struct MigrateEvent {
  const char* category;
  const char* name;
  bpf_program* MigrateProgs::*btf;
  bpf_program* MigrateProgs::*raw;
  bpf_program* MigrateProgs::*tp;
};
#define MIGRATE_EVENT(cat, tp, prog) \
  { cat, tp, &MigrateProgs::prog##_btf, &MigrateProgs::prog##_raw, &MigrateProgs::prog##_tp }
constexpr const char* kEndEvent = "mm_migrate_pages";
constexpr MigrateEvent kMigrateEvents[] = {
    MIGRATE_EVENT("migrate", kEndEvent, migrate_end),
    MIGRATE_EVENT("migrate", "mm_migrate_pages_start", migrate_start),
    MIGRATE_EVENT("migrate", "set_migration_pte", migration_pte_set),
    MIGRATE_EVENT("migrate", "remove_migration_pte", migration_pte_remove),
    MIGRATE_EVENT("sched", "sched_move_numa", numa_move),
    MIGRATE_EVENT("sched", "sched_swap_numa", numa_swap),
    MIGRATE_EVENT("sched", "sched_stick_numa", numa_stick),
};
#undef MIGRATE_EVENT

}  // namespace

CollectorTracepoints migrate_tracepoints() {
  CollectorTracepoints c{"migrate", {}, {}};
  for (const MigrateEvent& e : kMigrateEvents) c.events.push_back({e.category, {e.name}});
  for (const TracepointSpec& f : filter_tracepoints()) c.events.push_back(f);
  return c;
}

struct MigrateCollector::Impl {
  MigrateSkeleton skel;
};

MigrateCollector::MigrateCollector() : impl_(std::make_unique<Impl>()) {}
MigrateCollector::~MigrateCollector() { hooks_.detach_all(); }
migrate_bpf* MigrateCollector::skeleton() const { return impl_->skel.get(); }

Status require_migrate_end_hook(const HookStatus* end) {
  if (end && end->state == HookStatus::State::attached) return {};
  std::string why = end ? end->state_text() : "not requested";
  return make_error(ErrorKind::unsupported,
                    "this kernel has no usable migrate:mm_migrate_pages tracepoint ({}); page migrations cannot be "
                    "traced here (kernels without CONFIG_MIGRATION have none)",
                    why);
}

Result<std::unique_ptr<MigrateCollector>> MigrateCollector::load(const ResolvedTargets& targets,
                                                                 const KernelFeatures& features,
                                                                 const CountingWindow* window) {
  std::unique_ptr<MigrateCollector> c(new MigrateCollector());
  auto skel = MigrateSkeleton::open("migrate");
  if (!skel) return skel.error();
  c->impl_->skel = std::move(*skel);
  migrate_bpf* s = c->impl_->skel.get();
  set_filter_config(s, targets);
  hold_counting(s, true);  // until start(); an object given the run's window has that one's state

  // The raw argument list of mm_migrate_pages differs across kernels (migrate_events.h).
  auto nargs = kernel_tracepoint_arg_count("mm_migrate_pages");
  if (nargs && (*nargs < AITRACE_MIGRATE_ARGS_MIN || *nargs > AITRACE_MIGRATE_ARGS_MAX)) {
    warn(
        "mm_migrate_pages has {} arguments in this kernel, which aitrace does not know; using the classic "
        "tracepoint record instead",
        *nargs);
  }
  bool raw_ok = nargs && *nargs >= AITRACE_MIGRATE_ARGS_MIN && *nargs <= AITRACE_MIGRATE_ARGS_MAX && *nargs != 5;
  if (raw_ok) const_cast<__u32&>(s->rodata->migrate_nargs) = static_cast<__u32>(*nargs);
  debug("mm_migrate_pages: {} raw arguments", nargs ? std::to_string(*nargs) : std::string("unknown"));

  HookSet& h = c->hooks_;
  for (const MigrateEvent& e : kMigrateEvents) {
    std::vector<HookCandidate> candidates = {
        {HookKind::tp_btf, s->progs.*e.btf}, {HookKind::raw_tp, s->progs.*e.raw}, {HookKind::tracepoint, s->progs.*e.tp}};
    // An mm_migrate_pages argument list aitrace does not know: only the classic record is safe.
    if (std::strcmp(e.name, kEndEvent) == 0 && !raw_ok) {
      bpf_program__set_autoload(s->progs.*e.btf, false);
      bpf_program__set_autoload(s->progs.*e.raw, false);
      candidates = {{HookKind::tracepoint, s->progs.*e.tp}};
    }
    h.add(features, e.category, e.name, candidates);
  }
  add_filter_hooks(
      h, features, targets,
      AITRACE_FILTER_PROGRAMS_OF(s, migrate));
  // Fail before load with the clear message rather than with a verifier or attach error.
  const HookStatus* st = h.status("migrate:mm_migrate_pages");
  if (!st || !st->kind) return require_migrate_end_hook(st).error();
  AITRACE_TRY(c->impl_->skel.load("migrate", window));
  return c;
}

Status MigrateCollector::attach(const ResolvedTargets& targets) {
  migrate_bpf* s = impl_->skel.get();
  AITRACE_TRY(fill_filter_maps(s->maps.filter_tgids, s->maps.filter_tids, targets));
  hooks_.attach_all();
  return require_migrate_end_hook(hooks_.status("migrate:mm_migrate_pages"));
}

void MigrateCollector::start() { hold_counting(impl_->skel.get(), false); }

void MigrateCollector::add_to(RunLoop& loop) {
  add_filter_sweep(loop, impl_->skel.get(), "migrate");
}
void MigrateCollector::stop() { hold_counting(impl_->skel.get(), true); }

std::vector<MigrateHookState> MigrateCollector::hook_states() const {
  std::vector<MigrateHookState> out;
  for (const auto& st : hooks_.statuses())
    out.push_back({st.event, st.state_text(), st.state == HookStatus::State::attached});
  return out;
}

Result<MigrateSnapshot> MigrateCollector::snapshot() const { return read_migrate_snapshot(impl_->skel.get()); }

Result<MigrateSnapshot> read_migrate_snapshot(const migrate_bpf* s) {
  MigrateSnapshot out;
  for_each_map_entry<migrate_stats_key, migrate_stats_value>(
      bpf_map__fd(s->maps.migrate_stats), [&](const migrate_stats_key& k, const migrate_stats_value& v) {
        MigrateStatsRow row;
        row.tgid = k.tgid;
        row.reason = k.reason;
        row.mode = k.mode;
        row.cgroup_id = k.cgroup_id;
        row.counts.calls = v.calls;
        row.counts.succeeded = v.succeeded;
        row.counts.failed = v.failed;
        row.counts.thp_succeeded = v.thp_succeeded;
        row.counts.thp_failed = v.thp_failed;
        row.counts.thp_split = v.thp_split;
        row.counts.large_folio_split = v.large_folio_split;
        row.counts.timed_calls = v.timed_calls;
        row.counts.latency_sum_ns = v.latency_sum_ns;
        row.comm = std::string(kernel_string(v.comm, sizeof(v.comm)));
        out.stats.push_back(std::move(row));
      });
  for_each_map_entry<migrate_hist_key, __u64>(bpf_map__fd(s->maps.migrate_latency),
                                              [&](const migrate_hist_key& k, __u64 n) {
                                                if (n) out.latency[k.reason][k.bucket] += n;
                                              });
  for_each_map_entry<migrate_numa_key, __u64>(bpf_map__fd(s->maps.numa_moves), [&](const migrate_numa_key& k, __u64 n) {
    out.numa.push_back(NumaMoveRow{k.kind, k.src_cpu, k.dst_cpu, k.tgid, n});
  });
  // Plain loads of counters the kernel updates atomically; a torn read is not possible for u64.
  std::memcpy(&out.lost, const_cast<const migrate_lost*>(&s->bss->lost), sizeof(out.lost));
  out.fork_overflow = s->bss->filter_fork_overflow;
  out.ptes_set = s->bss->ptes_set;
  out.ptes_removed = s->bss->ptes_removed;
  return out;
}

}  // namespace aitrace
