#include "aitrace/sched/sched_collector.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/filter_hooks.hpp"
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/core/numa_nodes.hpp"
#include "aitrace/core/programs_in_flight.hpp"
#include "aitrace/core/ring_reader.hpp"
#include "aitrace/core/run_loop.hpp"
#include "sched.skel.h"
#include "aitrace/sched/sched_dense_totals.hpp"
#include "sched_thread_stats.hpp"

#include <bpf/bpf.h>

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_map>

namespace aitrace {
namespace {

using SchedSkeleton = AITRACE_SKELETON_TYPE(sched);

// Tasks tracked at once by the raw_tp fallback's tid-keyed map (task storage has no limit).
constexpr uint32_t kRawTpMaxTasks = 65536;

using SchedProgs = decltype(sched_bpf::progs);

// The hook table: every event, with its tp_btf and raw_tp program. sched_tracepoints() (doctor's
// catalog) and open() both read it. `numa`: fired by NUMA balancing only, which moves tasks
// between nodes; on a host where one node is possible open() leaves it out (not loaded, not
// attached, not listed among the hooks: the verifier's time is start-up time, ~1.5 ms for the
// two here) and its counters stay 0.
struct SchedEvent {
  const char* category;
  const char* name;
  bpf_program* SchedProgs::*btf_prog;
  bpf_program* SchedProgs::*raw_prog;
  bool numa = false;
};
#define SCHED_EVENT(cat, tp, ...) \
  { cat, #tp, &SchedProgs::tp##_btf, &SchedProgs::tp##_raw __VA_OPT__(, ) __VA_ARGS__ }
constexpr SchedEvent kSchedEvents[] = {
    SCHED_EVENT("sched", sched_switch),
    SCHED_EVENT("sched", sched_wakeup),
    SCHED_EVENT("sched", sched_wakeup_new),
    SCHED_EVENT("sched", sched_migrate_task),
    SCHED_EVENT("sched", sched_move_numa, true),
    SCHED_EVENT("sched", sched_swap_numa, true),
    SCHED_EVENT("sched", sched_process_exit),
    SCHED_EVENT("task", task_rename),
};
#undef SCHED_EVENT

// Where the NUMA events are left out (open() and doctor's catalog alike). A host whose sysfs does
// not say counts as several nodes: the programs load.
bool single_numa_node() { return possible_numa_nodes() == 1u; }

// One flavour for every event: the per-task state lives in task storage (tp_btf) or in the
// tid-keyed map (raw_tp), and mixing them would lose every transition between the two.
HookKind choose_flavour(const KernelFeatures& f) {
  if (f.preferred == HookKind::raw_tp) return HookKind::raw_tp;
  // tp_btf mode keeps per-task state in task storage (5.11+); without it, the raw_tp path.
  if (f.hook_kind(HookKind::tp_btf).works && f.task_storage()) return HookKind::tp_btf;
  return HookKind::raw_tp;
}

uint32_t bpf_group_by(SchedGroupBy g) {
  switch (g) {
    case SchedGroupBy::thread:
      return AITRACE_SCHED_BY_THREAD;
    case SchedGroupBy::process:
      return AITRACE_SCHED_BY_PROCESS;
    case SchedGroupBy::cgroup:
    case SchedGroupBy::container:
    case SchedGroupBy::pod:
      return AITRACE_SCHED_BY_CGROUP;
    case SchedGroupBy::comm:
      return AITRACE_SCHED_BY_COMM;
    case SchedGroupBy::none:
      return AITRACE_SCHED_BY_NONE;
  }
  return AITRACE_SCHED_BY_PROCESS;
}

bool power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

// Thresholds into rodata (0 keeps the branches out of the verified program) and the ring's size:
// one page when no event is ever sent.
Status configure_slow_events(sched_bpf* s, const SchedConfig& cfg) {
  const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  const bool on = cfg.slower_ns || cfg.slower_offcpu_ns;
  if (on && (!power_of_two(cfg.slow_ring_bytes) || cfg.slow_ring_bytes < page))
    return make_error(ErrorKind::usage, "slow-event ring size {} is not a power of two of at least {} bytes",
                      cfg.slow_ring_bytes, page);
  s->rodata->slower_ns = cfg.slower_ns;
  s->rodata->slower_offcpu_ns = cfg.slower_offcpu_ns;
  bpf_map__set_max_entries(s->maps.slow_events, on ? cfg.slow_ring_bytes : page);
  return {};
}

// Whether BPF hash maps allocate elements at run time from any context (bpf_mem_alloc, 6.1+).
// Before it a run-time allocated hash map in a tracing program is unsafe (the verifier warns,
// and refuses it under PREEMPT_RT), so there the map stays preallocated. From the one-pass BTF
// facts: a libbpf parse here (vmlinux_btf()) was one more full parse of the kernel BTF at start-up
// (see kernel_btf_facts.hpp) and kept 5.4 MB resident (bench/startup_overhead.sh: peak RSS 25.1 MB
// with it, 19.3 without).
bool kernel_has_bpf_mem_alloc() {
  const KernelBtfFacts* f = kernel_btf_facts();
  return f && f->has_bpf_mem_alloc;
}

}  // namespace

CollectorTracepoints sched_tracepoints() {
  CollectorTracepoints c{"sched", {}, {}};
  const bool one_node = single_numa_node();
  for (const SchedEvent& e : kSchedEvents)
    if (!(e.numa && one_node)) c.events.push_back({e.category, {e.name}});
  for (const TracepointSpec& f : filter_tracepoints()) c.events.push_back(f);
  return c;
}

std::optional<SchedGroupBy> parse_sched_group_by(std::string_view s) {
  if (s == "thread") return SchedGroupBy::thread;
  if (s == "process") return SchedGroupBy::process;
  if (s == "cgroup") return SchedGroupBy::cgroup;
  if (s == "comm") return SchedGroupBy::comm;
  if (s == "none") return SchedGroupBy::none;
  if (s == "container") return SchedGroupBy::container;
  if (s == "pod") return SchedGroupBy::pod;
  return std::nullopt;
}

const char* sched_group_by_name(SchedGroupBy g) {
  switch (g) {
    case SchedGroupBy::thread:
      return "thread";
    case SchedGroupBy::process:
      return "process";
    case SchedGroupBy::cgroup:
      return "cgroup";
    case SchedGroupBy::comm:
      return "comm";
    case SchedGroupBy::none:
      return "none";
    case SchedGroupBy::container:
      return "container";
    case SchedGroupBy::pod:
      return "pod";
  }
  return "?";
}

struct SchedCollector::Impl {
  SchedConfig cfg;
  SchedSkeleton skel;
  HookSet hooks;
  HookKind flavour = HookKind::tp_btf;
  std::chrono::steady_clock::time_point attached_at;
  SlowEventLog::Live slow_live;
  std::unique_ptr<SlowEventLog> slow_log;  // with --slower / --slower-offcpu only
  std::unique_ptr<RingReader> slow_reader;
  Link thread_iter;  // with thread storage (bpf/sched_threads.bpf.h)
  // The live threads' statistics read at detach(), final by then; reads after it use them.
  std::optional<ThreadStatsBySlot> threads_at_detach;
  Status threads_at_detach_status;
};

SchedCollector::SchedCollector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchedCollector::SchedCollector(SchedCollector&&) noexcept = default;
SchedCollector& SchedCollector::operator=(SchedCollector&&) noexcept = default;
SchedCollector::~SchedCollector() = default;

const HookSet& SchedCollector::hooks() const { return impl_->hooks; }
HookKind SchedCollector::flavour() const { return impl_->flavour; }
bool SchedCollector::threads_in_task_storage() const { return impl_->skel.get()->rodata->thread_storage; }
bool SchedCollector::uses_rq_clock() const { return impl_->skel.get()->rodata->use_rq_clock; }
const SchedConfig& SchedCollector::config() const { return impl_->cfg; }

Result<SchedCollector> SchedCollector::open(const SchedConfig& cfg, const KernelFeatures& features) {
  if (cfg.max_groups == 0 || cfg.max_groups > kSchedMaxGroupsLimit)
    return make_error(ErrorKind::usage, "--max-groups must be 1 to {}", kSchedMaxGroupsLimit);
  auto skel = SchedSkeleton::open("sched");
  if (!skel) return skel.error();
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  impl->skel = std::move(*skel);
  sched_bpf* s = impl->skel.get();

  set_filter_config(s, cfg.targets);
  hold_counting(s, true);  // until start(); an object given the run's window has that one's state
  s->rodata->group_by = bpf_group_by(cfg.group_by);
  s->rodata->switch_has_prev_state = sched_switch_has_prev_state();
  // The rq clock is reached through se.cfs_rq; without CONFIG_FAIR_GROUP_SCHED only ktime works.
  const bool rq_reachable = task_has_group_cfs_rq();
  if (cfg.clock == SchedClock::rq && !rq_reachable)
    return make_error(ErrorKind::unsupported,
                      "--clock rq needs sched_entity.cfs_rq (CONFIG_FAIR_GROUP_SCHED), which this kernel lacks; "
                      "use --clock wall");
  s->rodata->use_rq_clock = cfg.clock == SchedClock::rq;
  impl->flavour = choose_flavour(features);
  const bool btf = impl->flavour == HookKind::tp_btf;
  // Run-time allocated rows (6.1+) cost memory only once used, so the budget can cover every
  // group; a preallocated map (older kernels, where tracing programs must not allocate) pays
  // for each row up front and gets a quarter of it.
  const bool grow = kernel_has_bpf_mem_alloc();
  // Threads keep their statistics in their own task storage (bpf/sched_threads.bpf.h) where a
  // task iterator can read every one of them: the initial pid namespace (the iterator walks the
  // reader's), and run-time allocated maps for the retired threads' copies.
  // Not with a BPF token: the delegation docs/containers.md lists has no task iterator (trace_iter).
  const bool threads = btf && grow && cfg.group_by == SchedGroupBy::thread && cfg.targets.cfg.pidns_level == 0 &&
                       bpf_token_source().empty();
  s->rodata->thread_storage = threads;
  if (cfg.thread_rows > AITRACE_SCHED_THREAD_ROWS)
    return make_error(ErrorKind::usage, "a thread keeps at most {} histogram rows", AITRACE_SCHED_THREAD_ROWS);
  s->rodata->thread_rows = cfg.thread_rows;
  const uint32_t slots = cfg.max_groups + 1;  // + `other`
  // With thread storage only `other` is shared; threads' histograms are rows beside them.
  const uint32_t dense = threads ? 1 : std::max<uint32_t>(1, std::min(cfg.dense_groups, slots));
  s->rodata->max_slots = slots;
  s->rodata->dense_slots = cfg.dense_groups ? dense : 0;

  const uint64_t rows_per_group = grow ? AITRACE_SCHED_HIST_ROWS_PER_GROUP : AITRACE_SCHED_HIST_ROWS_PER_GROUP_PREALLOC;
  uint64_t hist_rows = cfg.max_hist_entries
                           ? cfg.max_hist_entries
                           : std::max<uint64_t>(AITRACE_SCHED_MIN_HIST_ROWS, uint64_t{cfg.max_groups} * rows_per_group);
  if (hist_rows > (1u << 24)) hist_rows = 1u << 24;
  bpf_map__set_max_entries(s->maps.group_slots, cfg.max_groups);
  bpf_map__set_max_entries(s->maps.group_stats, slots);
  bpf_map__set_max_entries(s->maps.dense_hist, dense);
  bpf_map__set_max_entries(s->maps.dense_totals, dense);
  bpf_map__set_max_entries(s->maps.hist, static_cast<uint32_t>(hist_rows));
  // Part of the same budget: a --max-hist-entries below it caps the spill rows too.
  bpf_map__set_max_entries(s->maps.hist_spill,
                           static_cast<uint32_t>(std::min<uint64_t>(AITRACE_SCHED_HIST_SPILL_ROWS, hist_rows)));
  if (grow) bpf_map__set_map_flags(s->maps.hist, bpf_map__map_flags(s->maps.hist) | BPF_F_NO_PREALLOC);
  if (threads) {
    bpf_map__set_max_entries(s->maps.thread_exits, slots);
    bpf_map__set_map_flags(s->maps.thread_exits, bpf_map__map_flags(s->maps.thread_exits) | BPF_F_NO_PREALLOC);
  } else {
    bpf_program__set_autoload(s->progs.sched_threads_dump, false);
  }
  AITRACE_TRY(configure_slow_events(s, cfg));

  if (!btf) {
    bpf_map__set_max_entries(s->maps.task_states_by_tid, kRawTpMaxTasks);
    bpf_map__set_autocreate(s->maps.task_states, false);  // unused, and absent before 5.11
    bpf_map__set_autocreate(s->maps.thread_states, false);
  }

  const bool one_node = single_numa_node();
  for (const SchedEvent& e : kSchedEvents) {
    bpf_program* chosen = btf ? s->progs.*e.btf_prog : s->progs.*e.raw_prog;
    bpf_program__set_autoload(btf ? s->progs.*e.raw_prog : s->progs.*e.btf_prog, false);
    if (e.numa && one_node) {
      bpf_program__set_autoload(chosen, false);
      continue;
    }
    impl->hooks.add(features, e.category, e.name, {{impl->flavour, chosen}});
  }
  add_filter_hooks(impl->hooks, features, cfg.targets,
                   AITRACE_FILTER_PROGRAMS_OF(s, sched),
                   impl->flavour);
  return SchedCollector(std::move(impl));
}

Status SchedCollector::load(const CountingWindow* window) {
  sched_bpf* s = impl_->skel.get();
  AITRACE_TRY(impl_->skel.load("sched", window));
  // `other` (slot 0) exists from the start, so a full group map always has somewhere to count.
  aitrace_sched_group other{};
  for (auto& m : other.totals.metrics) m.min = ~0ULL;
  other.id = AITRACE_SCHED_GROUP_OTHER;
  other.used = 1;
  std::memcpy(other.comm, "other", 6);
  uint32_t key = AITRACE_SCHED_OTHER_SLOT;
  int err = bpf_map__update_elem(s->maps.group_stats, &key, sizeof(key), &other, sizeof(other), BPF_ANY);
  if (err) return make_error(ErrorKind::runtime, "seeding the sched group map: {}", bpf_error_text(err));
  AITRACE_TRY(seed_dense_totals(bpf_map__fd(s->maps.dense_totals), bpf_map__max_entries(s->maps.dense_totals)));
  if (s->rodata->thread_storage) {
    impl_->thread_iter = Link(bpf_program__attach_iter(s->progs.sched_threads_dump, nullptr));
    if (!impl_->thread_iter.get())
      return make_error(ErrorKind::unsupported, "cannot read threads' statistics (task iterator): {}",
                        bpf_error_text(-errno));
  }
  const SchedConfig& c = impl_->cfg;
  if (c.slower_ns || c.slower_offcpu_ns) {
    impl_->slow_log = std::make_unique<SlowEventLog>(c.slower_ns, c.slower_offcpu_ns, c.slow_keep,
                                                     [impl = impl_.get()](const SlowEvent& e) {
                                                       if (impl->slow_live) impl->slow_live(e);
                                                     });
    impl_->slow_reader = std::make_unique<RingReader>(
        [log = impl_->slow_log.get()](std::span<const std::byte> rec) { log->on_record(rec); });
    AITRACE_TRY(impl_->slow_reader->add(bpf_map__fd(s->maps.slow_events)));
  }
  return {};
}

void SchedCollector::on_slow_event(SlowEventLog::Live live) { impl_->slow_live = std::move(live); }

void SchedCollector::add_to(RunLoop& loop) {
  if (impl_->slow_reader) loop.add_ring(impl_->slow_reader.get());
  add_filter_sweep(loop, impl_->skel.get(), "sched");
}

uint64_t SchedCollector::sweep_filter() {
  return sweep_filter_maps(impl_->skel.get());
}

Status SchedCollector::drain_slow_events() {
  if (!impl_->slow_reader) return {};
  return impl_->slow_reader->drain_all().status();
}

Status SchedCollector::attach() {
  sched_bpf* s = impl_->skel.get();
  AITRACE_TRY(fill_filter_maps(s->maps.filter_tgids, s->maps.filter_tids, impl_->cfg.targets));
  impl_->hooks.attach_all();
  for (const HookStatus& st : impl_->hooks.statuses()) debug("sched: {}: {}", st.event, st.state_text());
  if (!impl_->hooks.attached("sched:sched_switch")) {
    const HookStatus* st = impl_->hooks.status("sched:sched_switch");
    return make_error(ErrorKind::unsupported, "cannot trace sched_switch: {}", st ? st->state_text() : "no hook");
  }
  for (const char* ev : {"sched:sched_wakeup", "sched:sched_wakeup_new"}) {
    const HookStatus* st = impl_->hooks.status(ev);
    if (st && st->state != HookStatus::State::attached)
      warn("{} {}: runq_wakeup and offcpu histograms will be empty", ev, st->state_text());
  }
  if (impl_->cfg.targets.cfg.follow_forks && !impl_->hooks.attached("sched:sched_process_fork"))
    warn("sched:sched_process_fork is not attached: child processes of the command are not traced");
  return {};
}

void SchedCollector::start() {
  impl_->attached_at = std::chrono::steady_clock::now();
  hold_counting(impl_->skel.get(), false);
}

void SchedCollector::stop() { hold_counting(impl_->skel.get(), true); }

void SchedCollector::detach() {
  // With thread storage the live threads are read once more while sched_process_exit still hands
  // exiting threads to thread_exits: a thread that exits after the detach is reaped and gone from
  // the iterator before the final read. Counting ends first (detach ends it in any case), and the
  // runs under way finish, so what is read is final. A thread that exits in between is in both
  // places, and the reads take its copy over it, as always.
  if (impl_->thread_iter.get() && !impl_->threads_at_detach) {
    hold_counting(impl_->skel.get(), true);
    wait_for_programs_in_flight();
    ThreadStatsBySlot live;
    impl_->threads_at_detach_status = read_live_threads(impl_->thread_iter.get(), live);
    impl_->threads_at_detach = std::move(live);
  }
  impl_->hooks.detach_all();
}

namespace {

// Sorts {bucket, count} pairs and adds up the pairs of one bucket (a row read from both maps).
void merge_equal_buckets(std::vector<std::pair<uint32_t, uint64_t>>& b) {
  std::sort(b.begin(), b.end());
  size_t out = 0;
  for (size_t i = 0; i < b.size(); i++) {
    if (out && b[out - 1].first == b[i].first)
      b[out - 1].second += b[i].second;
    else
      b[out++] = b[i];
  }
  b.resize(out);
}

template <typename Key, typename Value, typename Fn>
Status for_each_entry(int fd, Fn&& fn) {
  // Batched reads when the kernel has them (5.6+), one key at a time otherwise. Up to 1 MiB of
  // values a batch: thread_exits' 1.5 KB values would otherwise take 6 MB a read.
  constexpr uint32_t kBatch = static_cast<uint32_t>(std::clamp<size_t>((size_t{1} << 20) / sizeof(Value), 64, 4096));
  std::vector<Key> keys(kBatch);
  std::vector<Value> values(kBatch);
  Key token{};
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(), values.data(), &count, nullptr);
    if (err && errno != ENOENT) {
      if (!first || (errno != EINVAL && errno != EOPNOTSUPP)) break;  // ENOTSUP is EOPNOTSUPP on Linux
      for_each_map_entry<Key, Value>(fd, fn);  // no batch operations on this kernel
      return {};
    }
    for (uint32_t i = 0; i < count; i++) fn(keys[i], values[i]);
    first = false;
    if (err) return {};  // ENOENT: that was the last batch
  }
  return make_error(ErrorKind::runtime, "reading a sched map: {}", bpf_error_text(-errno));
}

}  // namespace

Result<SchedSnapshot> SchedCollector::read() const {
  sched_bpf* s = impl_->skel.get();
  SchedSnapshot snap;
  snap.duration_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - impl_->attached_at)
          .count());
  snap.group_capacity = impl_->cfg.max_groups;
  const uint32_t slots = bpf_map__max_entries(s->maps.group_stats);
  const uint32_t dense = s->rodata->dense_slots;
  const uint32_t used_slots = static_cast<uint32_t>(std::min<uint64_t>(s->data->next_slot, slots));
  // Threads' own statistics (bpf/sched_threads.bpf.h): the live ones first, then the retired
  // ones' copies, which replace what the iterator showed of the same slot.
  ThreadStatsBySlot threads;
  if (impl_->threads_at_detach) {
    if (!impl_->threads_at_detach_status) return impl_->threads_at_detach_status.error();
    threads = *impl_->threads_at_detach;
  } else if (impl_->thread_iter.get()) {
    AITRACE_TRY(read_live_threads(impl_->thread_iter.get(), threads));
  }
  if (impl_->thread_iter.get()) {
    AITRACE_TRY((for_each_entry<uint32_t, aitrace_sched_thread_stats>(
        bpf_map__fd(s->maps.thread_exits),
        [&](uint32_t slot, const aitrace_sched_thread_stats& t) { threads[slot] = decode_thread_stats(t); })));
  }
  std::unordered_map<uint32_t, size_t> index;  // slot -> snap.groups position
  Status dense_status;
  std::vector<aitrace_sched_totals> dense_copies;
  AITRACE_TRY((for_each_entry<uint32_t, aitrace_sched_group>(
      bpf_map__fd(s->maps.group_stats), [&](uint32_t slot, const aitrace_sched_group& g) {
        if (!g.used || slot >= used_slots) return;
        aitrace_sched_totals t = g.totals;
        if (slot < dense) {
          auto per_cpu = read_dense_totals(bpf_map__fd(s->maps.dense_totals), slot, dense_copies);
          if (!per_cpu) {
            dense_status = per_cpu.status();
            return;
          }
          t = *per_cpu;
        }
        SchedGroup out;
        out.slot = slot;
        out.id = slot == AITRACE_SCHED_OTHER_SLOT ? AITRACE_SCHED_GROUP_OTHER : g.id;
        out.other = slot == AITRACE_SCHED_OTHER_SLOT;
        out.exited = g.flags & AITRACE_SCHED_GROUP_EXITED;
        out.pid = g.pid;
        out.tid = g.tid;
        out.cgroup_id = g.cgroup_id;
        out.comm = std::string(g.comm, strnlen(g.comm, sizeof(g.comm)));
        out.counters = {t.switches, t.involuntary, t.migrations, t.numa_moves, t.numa_swaps};
        for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
          out.count[m] = t.metrics[m].count;
          out.sum[m] = t.metrics[m].sum;
          out.min[m] = t.metrics[m].min != ~0ULL ? t.metrics[m].min : 0;
          out.max[m] = t.metrics[m].max;
        }
        index[slot] = snap.groups.size();
        snap.groups.push_back(std::move(out));
      })));
  if (!dense_status) return dense_status.error();
  // Dense histograms: one lookup per used slot (each value is ~25 KB).
  auto dh = std::make_unique<aitrace_sched_dense_hist>();
  for (uint32_t slot = 0; slot < std::min(dense, used_slots); slot++) {
    auto it = index.find(slot);
    if (it == index.end()) continue;
    if (bpf_map__lookup_elem(s->maps.dense_hist, &slot, sizeof(slot), dh.get(), sizeof(*dh), 0) != 0) continue;
    SchedGroup& g = snap.groups[it->second];
    // Dense slots keep no sample count in the kernel: it is the sum of the buckets, and
    // switch-ins with a run-queue sample are counted by those samples.
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      g.count[m] = 0;
      for (uint32_t b = 0; b < AITRACE_HIST_BUCKETS; b++)
        if (dh->buckets[m][b]) {
          g.buckets[m].emplace_back(b, dh->buckets[m][b]);
          g.count[m] += dh->buckets[m][b];
        }
      if (!g.count[m]) g.min[m] = 0;
    }
    g.counters.switches += g.count[AITRACE_SCHED_RUNQ_WAKEUP] + g.count[AITRACE_SCHED_RUNQ_PREEMPT];
  }
  constexpr uint32_t kRows = AITRACE_HIST_BUCKETS / AITRACE_HIST_SUB;
  const auto add_row = [&](const aitrace_sched_hist_key& k, const aitrace_sched_hist_row& row) {
    auto it = index.find(k.slot);
    if (it == index.end() || k.metric >= AITRACE_SCHED_METRICS || k.row >= kRows) return;
    auto& out = snap.groups[it->second].buckets[k.metric];
    for (uint32_t i = 0; i < AITRACE_HIST_SUB; i++)
      if (row.counts[i]) out.emplace_back(k.row * AITRACE_HIST_SUB + i, row.counts[i]);
  };
  // A row may be in both maps: in hist_spill while hist could not allocate it, then in hist.
  AITRACE_TRY((for_each_entry<aitrace_sched_hist_key, aitrace_sched_hist_row>(bpf_map__fd(s->maps.hist), add_row)));
  AITRACE_TRY(
      (for_each_entry<aitrace_sched_hist_key, aitrace_sched_hist_row>(bpf_map__fd(s->maps.hist_spill), add_row)));
  for (const auto& [slot, t] : threads) {
    auto it = index.find(slot);
    if (it != index.end()) add_thread_stats(snap.groups[it->second], t);
  }
  for (SchedGroup& g : snap.groups)
    for (auto& b : g.buckets) merge_equal_buckets(b);
  snap.lost.groups_overflow = s->bss->groups_overflow;
  snap.lost.hist_overflow = s->bss->hist_overflow;
  snap.lost.task_state_missing = s->bss->task_state_missing;
  snap.lost.fork_overflow = s->bss->filter_fork_overflow;
  snap.lost.transitions_missed = s->bss->transitions_missed;
  snap.lost.slow_events = s->bss->slow_lost;
  snap.lost.thread_stats = s->bss->thread_exits_lost;
  if (impl_->slow_log) snap.slow = impl_->slow_log->read();
  snap.transitions_repaired = s->bss->transitions_repaired;
  if (s->bss->transitions_repaired)
    debug("sched: {} switches and wakeups that never reached the program closed from sched_info stamps",
          s->bss->transitions_repaired);
  return snap;
}

Histogram SchedGroup::histogram(int metric) const {
  Histogram h = Histogram::bucketed();
  if (metric < 0 || metric >= AITRACE_SCHED_METRICS) return h;
  for (auto [b, n] : buckets[metric]) h.add_bucket(b, n);
  h.add_sum(sum[metric]);
  if (!min_max_known) return h;
  if (!h.count()) {
    h.set_exact_min_max(0, 0);  // nothing counted: the same keys as the group's other metrics
    return h;
  }
  // The kernel's min/max are exact unless a racing update on another CPU lost one; the bucket
  // bounds are always right, so the kernel's values are used only when they agree with them.
  uint64_t mn = min[metric], mx = max[metric];
  if (count[metric] && aitrace_hist_bucket(mn) == aitrace_hist_bucket(h.min()) &&
      aitrace_hist_bucket(mx) == aitrace_hist_bucket(h.max()) && mn <= mx)
    h.set_exact_min_max(mn, mx);
  return h;
}

SchedSnapshot sched_snapshot_delta(const SchedSnapshot& now, const SchedSnapshot& before) {
  std::unordered_map<uint32_t, const SchedGroup*> prev;
  for (const auto& g : before.groups) prev[g.slot] = &g;
  SchedSnapshot out;
  out.duration_ns = now.duration_ns - std::min(now.duration_ns, before.duration_ns);
  out.group_capacity = now.group_capacity;
  auto sub = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  out.lost = {sub(now.lost.groups_overflow, before.lost.groups_overflow),
              sub(now.lost.hist_overflow, before.lost.hist_overflow),
              sub(now.lost.task_state_missing, before.lost.task_state_missing),
              sub(now.lost.fork_overflow, before.lost.fork_overflow),
              sub(now.lost.transitions_missed, before.lost.transitions_missed),
              sub(now.lost.slow_events, before.lost.slow_events),
              sub(now.lost.thread_stats, before.lost.thread_stats)};
  out.slow = slow_events_delta(now.slow, before.slow);
  for (const auto& g : now.groups) {
    auto it = prev.find(g.slot);
    if (it == prev.end()) {
      out.groups.push_back(g);
      continue;
    }
    const SchedGroup& p = *it->second;
    SchedGroup d = g;
    d.min_max_known = false;  // the kernel's are since attach; the interval's come from its buckets
    d.counters = {sub(g.counters.switches, p.counters.switches), sub(g.counters.involuntary, p.counters.involuntary),
                  sub(g.counters.migrations, p.counters.migrations), sub(g.counters.numa_moves, p.counters.numa_moves),
                  sub(g.counters.numa_swaps, p.counters.numa_swaps)};
    bool active = d.counters.switches || d.counters.migrations || d.counters.involuntary;
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      d.count[m] = sub(g.count[m], p.count[m]);
      d.sum[m] = sub(g.sum[m], p.sum[m]);
      d.min[m] = d.max[m] = 0;
      std::vector<std::pair<uint32_t, uint64_t>> delta;
      size_t j = 0;
      const auto& pb = p.buckets[m];
      for (auto [b, n] : g.buckets[m]) {
        while (j < pb.size() && pb[j].first < b) j++;
        uint64_t before_n = j < pb.size() && pb[j].first == b ? pb[j].second : 0;
        if (n > before_n) delta.emplace_back(b, n - before_n);
      }
      d.buckets[m] = std::move(delta);
      active |= d.count[m] != 0;
    }
    if (active) out.groups.push_back(std::move(d));
  }
  return out;
}

}  // namespace aitrace
