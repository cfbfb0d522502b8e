#include "aitrace/offcpu/offcpu_collector.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/filter_hooks.hpp"
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/core/ring_reader.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/offcpu/stack_symbolizer.hpp"
#include "aitrace/output/escape.hpp"
#include "offcpu.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

namespace aitrace {

using OffcpuSkeleton = AITRACE_SKELETON_TYPE(offcpu);

namespace {

using OffcpuProgs = decltype(offcpu_bpf::progs);

// The hook table: offcpu_tracepoints() (doctor's catalog) and load() both read it.
struct OffcpuEvent {
  const char* category;
  const char* name;
  bpf_program* OffcpuProgs::*btf;
  bpf_program* OffcpuProgs::*raw;
};
constexpr const char* kWakingEvent = "sched_waking";  // only with --wakers
constexpr OffcpuEvent kOffcpuEvents[] = {
    {"sched", "sched_switch", &OffcpuProgs::offcpu_switch_btf, &OffcpuProgs::offcpu_switch_raw},
    {"sched", kWakingEvent, &OffcpuProgs::offcpu_waking_btf, &OffcpuProgs::offcpu_waking_raw},
};

// One flavour for every program: a blocked task's start lives in task storage (tp_btf) or in the
// tid-keyed map (raw_tp), and the switch-out and the switch-in must find the same one.
HookKind choose_flavour(const KernelFeatures& f) {
  if (f.preferred == HookKind::raw_tp) return HookKind::raw_tp;
  if (f.hook_kind(HookKind::tp_btf).works && f.task_storage()) return HookKind::tp_btf;
  return HookKind::raw_tp;
}

using Frames = std::array<uint64_t, AITRACE_OFFCPU_MAX_FRAMES>;

std::string lost_frame(int32_t id) {
  if (id == -EEXIST) return "[lost: stack hash collision]";
  if (id == -ENOMEM) return "[lost: stack map full]";
  if (id == -EFAULT) return "[lost: no user stack]";
  return "[lost: stack error " + std::to_string(-id) + "]";
}

bool is_tracing_frame(std::string_view f) {
  for (std::string_view p : {"bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_"})
    if (f.starts_with(p)) return true;
  return false;
}

}  // namespace

CollectorTracepoints offcpu_tracepoints() {
  CollectorTracepoints c{"offcpu", {}, {}};
  for (const OffcpuEvent& e : kOffcpuEvents) c.events.push_back({e.category, {e.name}});
  for (const TracepointSpec& f : filter_tracepoints()) c.events.push_back(f);
  return c;
}

struct OffcpuCollector::Impl {
  OffcpuSkeleton skel;
  HookSet hooks;
  StackSymbolizer symbols;
  std::unique_ptr<RingReader> reader;
  // Stack ids are never reused (no BPF_F_REUSE_STACKID), so what an id holds is read once. Ids
  // with AITRACE_OFFCPU_SPILL_ID are in offcpu_spill_stacks.
  std::map<int32_t, std::pair<Frames, size_t>> addresses;
  // Resolved once, when first reported: the names survive the process.
  std::map<int32_t, std::vector<std::string>> kernel_stacks;
  std::map<std::pair<uint32_t, int32_t>, std::vector<std::string>> user_stacks;

  // The addresses of a stack id (innermost first) and their count; nullptr when unreadable.
  const std::pair<Frames, size_t>* stack(int32_t id) {
    auto it = addresses.find(id);
    if (it != addresses.end()) return &it->second;
    Frames f{};
    const bool spilled = (static_cast<uint32_t>(id) & AITRACE_OFFCPU_SPILL_ID) != 0;
    const uint32_t key = static_cast<uint32_t>(id) & ~static_cast<uint32_t>(AITRACE_OFFCPU_SPILL_ID);
    bpf_map* map = spilled ? skel->maps.offcpu_spill_stacks : skel->maps.offcpu_stacks;
    if (bpf_map_lookup_elem(bpf_map__fd(map), &key, f.data()) != 0) return nullptr;
    size_t n = 0;
    while (n < f.size() && f[n]) n++;
    return &addresses.emplace(id, std::make_pair(f, n)).first->second;
  }

  const std::vector<std::string>& user_stack(uint32_t tgid, int32_t id) {
    auto key = std::make_pair(tgid, id);
    auto it = user_stacks.find(key);
    if (it != user_stacks.end()) return it->second;
    std::vector<std::string> frames;
    if (id == AITRACE_OFFCPU_NO_STACK) {
      // a kernel thread: no user frames
    } else if (id < 0) {
      frames.push_back(lost_frame(id));
    } else if (const auto* s = stack(id)) {
      for (size_t i = 0; i < s->second; i++) frames.push_back(symbols.user_frame(tgid, s->first[i]));
    } else {
      frames.emplace_back("[lost: stack unreadable]");
    }
    return user_stacks.emplace(key, std::move(frames)).first->second;
  }

  const std::vector<std::string>& kernel_stack(int32_t id) {
    auto it = kernel_stacks.find(id);
    if (it != kernel_stacks.end()) return it->second;
    std::vector<std::string> frames;
    if (id < 0) {
      frames.push_back(lost_frame(id));
    } else if (const auto* s = stack(id)) {
      for (size_t i = 0; i < s->second; i++) {
        std::string f = symbols.kernel_frame(s->first[i]);
        // The stack is taken inside the tracepoint: its innermost frames are aitrace's own
        // program and the tracepoint's dispatch, not where the task blocked.
        if (frames.empty() && is_tracing_frame(f)) continue;
        frames.push_back(std::move(f));
      }
    } else {
      frames.emplace_back("[lost: stack unreadable]");
    }
    return kernel_stacks.emplace(id, std::move(frames)).first->second;
  }

  bool truncated(int32_t id) {
    const auto* s = id >= 0 ? stack(id) : nullptr;
    return s && s->second == AITRACE_OFFCPU_MAX_FRAMES;
  }

  void on_notice(std::span<const std::byte> rec) {
    if (rec.size() < sizeof(offcpu_notice)) return;
    offcpu_notice n{};
    std::memcpy(&n, rec.data(), sizeof(n));
    const auto t0 = std::chrono::steady_clock::now();
    user_stack(n.tgid, n.user_stack_id);
    if (n.waker_user_stack_id != AITRACE_OFFCPU_NO_STACK) user_stack(n.waker_tgid, n.waker_user_stack_id);
    // The first stack of a process reads its modules' symbol tables, inside the run loop.
    debug("offcpu: process {} stack {} resolved in {} us", n.tgid, n.user_stack_id,
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  }
};

OffcpuCollector::OffcpuCollector() : impl_(std::make_unique<Impl>()) {}
OffcpuCollector::~OffcpuCollector() { impl_->hooks.detach_all(); }
const HookSet& OffcpuCollector::hooks() const { return impl_->hooks; }

Result<std::unique_ptr<OffcpuCollector>> OffcpuCollector::load(const OffcpuConfig& cfg, const ResolvedTargets& targets,
                                                               const KernelFeatures& features,
                                                               const CountingWindow* window) {
  std::unique_ptr<OffcpuCollector> c(new OffcpuCollector());
  auto skel = OffcpuSkeleton::open("offcpu");
  if (!skel) return skel.error();
  c->impl_->skel = std::move(*skel);
  offcpu_bpf* s = c->impl_->skel.get();
  set_filter_config(s, targets);
  hold_counting(s, true);  // until start(); an object given the run's window has that one's state
  s->rodata->switch_has_prev_state = sched_switch_has_prev_state();
  s->rodata->states_wanted = cfg.states;
  s->rodata->min_ns = cfg.min_ns;
  s->rodata->max_ns = cfg.max_ns;
  bpf_map__set_max_entries(s->maps.offcpu_stacks, cfg.stack_storage);
  bpf_map__set_max_entries(s->maps.offcpu_spill_stacks, std::max(1U, cfg.stack_storage / 4));
  bpf_map__set_max_entries(s->maps.offcpu_totals, cfg.max_keys);

  const HookKind flavour = choose_flavour(features);
  const bool btf = flavour == HookKind::tp_btf;
  if (!btf) {
    bpf_map__set_max_entries(s->maps.offcpu_starts_by_tid, AITRACE_OFFCPU_MAX_TASKS);
    bpf_map__set_autocreate(s->maps.offcpu_starts, false);  // unused, and absent before 5.11
  }
  HookSet& h = c->impl_->hooks;
  s->rodata->record_wakers = cfg.wakers;
  for (const OffcpuEvent& e : kOffcpuEvents) {
    bpf_program__set_autoload(btf ? s->progs.*e.raw : s->progs.*e.btf, false);
    if (!cfg.wakers && std::string_view(e.name) == kWakingEvent) {
      bpf_program__set_autoload(btf ? s->progs.*e.btf : s->progs.*e.raw, false);
      continue;
    }
    h.add(features, e.category, e.name, {{flavour, btf ? s->progs.*e.btf : s->progs.*e.raw}});
  }
  add_filter_hooks(h, features, targets,
                   AITRACE_FILTER_PROGRAMS_OF(s, offcpu),
                   flavour);
  const HookStatus* sw = h.status("sched:sched_switch");
  if (!sw || !sw->kind)
    return make_error(ErrorKind::unsupported, "offcpu: sched_switch cannot be hooked here ({})",
                      sw ? sw->state_text() : "not requested");
  AITRACE_TRY(c->impl_->skel.load("offcpu", window));
  Impl* raw = c->impl_.get();
  // /proc/kallsyms is read now, before anything runs, not inside the run loop's first report.
  raw->symbols.load_kernel();
  raw->reader = std::make_unique<RingReader>([raw](std::span<const std::byte> rec) { raw->on_notice(rec); });
  AITRACE_TRY(raw->reader->add(bpf_map__fd(s->maps.offcpu_notices)));
  return c;
}

Status OffcpuCollector::attach(const ResolvedTargets& targets) {
  offcpu_bpf* s = impl_->skel.get();
  AITRACE_TRY(fill_filter_maps(s->maps.filter_tgids, s->maps.filter_tids, targets));
  impl_->hooks.attach_all();
  for (const HookStatus& st : impl_->hooks.statuses()) debug("offcpu: {}: {}", st.event, st.state_text());
  for (const char* needed : {"sched:sched_switch", "sched:sched_waking"}) {
    const HookStatus* st = impl_->hooks.status(needed);
    if (st && st->state != HookStatus::State::attached)
      return make_error(ErrorKind::unsupported, "offcpu: {} {}", needed, st->state_text());
  }
  if (!impl_->hooks.status("sched:sched_switch"))
    return make_error(ErrorKind::unsupported, "offcpu: sched:sched_switch not requested");
  return {};
}

void OffcpuCollector::start() { hold_counting(impl_->skel.get(), false); }
void OffcpuCollector::stop() { hold_counting(impl_->skel.get(), true); }
void OffcpuCollector::add_to(RunLoop& loop) {
  loop.add_ring(impl_->reader.get());
  add_filter_sweep(loop, impl_->skel.get(), "offcpu");
}
void OffcpuCollector::detach() { impl_->hooks.detach_all(); }
Status OffcpuCollector::drain() { return impl_->reader->drain_all().status(); }

std::vector<OffcpuHookState> OffcpuCollector::hook_states() const {
  std::vector<OffcpuHookState> out;
  for (const auto& st : impl_->hooks.statuses()) out.push_back({st.event, st.state_text()});
  return out;
}

Result<OffcpuSnapshot> OffcpuCollector::snapshot() {
  Impl& m = *impl_;
  offcpu_bpf* s = m.skel.get();
  OffcpuSnapshot out;
  // The totals are read first and symbolized after, so the snapshot is one moment even when a
  // new process's symbol tables take a while to read.
  std::vector<std::pair<offcpu_key, offcpu_value>> totals;
  for_each_map_entry<offcpu_key, offcpu_value>(bpf_map__fd(s->maps.offcpu_totals),
                                               [&](const offcpu_key& k, const offcpu_value& v) { totals.emplace_back(k, v); });
  // Plain loads of counters the kernel updates atomically; a torn read is not possible for u64.
  std::memcpy(&out.lost, const_cast<const offcpu_lost*>(&s->bss->lost), sizeof(out.lost));
  out.fork_overflow = s->bss->filter_fork_overflow;
  out.switch_ins_repaired = s->bss->switch_ins_repaired;
  if (out.switch_ins_repaired)
    debug("offcpu: {} blocks whose switch-in never reached the program closed from sched_info stamps",
          out.switch_ins_repaired);
  for (const auto& [k, v] : totals) {
    OffcpuStack st;
    st.tgid = k.tgid;
    st.comm = std::string(kernel_string(k.comm, sizeof(k.comm)));
    st.state = k.state;
    st.user_stack_id = k.user_stack_id;
    st.kernel_stack_id = k.kernel_stack_id;
    st.user_frames = m.user_stack(k.tgid, k.user_stack_id);
    st.kernel_frames = m.kernel_stack(k.kernel_stack_id);
    st.truncated = m.truncated(k.user_stack_id) || m.truncated(k.kernel_stack_id);
    st.total_ns = v.total_ns;
    st.count = v.count;
    st.has_waker = k.waker_comm[0] != 0;
    if (st.has_waker) {
      st.waker_tgid = k.waker_tgid;
      st.waker_comm = std::string(kernel_string(k.waker_comm, sizeof(k.waker_comm)));
      st.waker_user_frames = m.user_stack(k.waker_tgid, k.waker_user_stack_id);
      st.waker_kernel_frames = m.kernel_stack(k.waker_kernel_stack_id);
    }
    out.stacks.push_back(std::move(st));
  }
  offcpu_merge_same_frames(out);
  m.symbols.forget_exited();
  return out;
}

}  // namespace aitrace
