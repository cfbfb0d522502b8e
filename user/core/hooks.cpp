#include "aitrace/core/hooks.hpp"

#include "aitrace/core/bpf_feature_probe.hpp"
#include "aitrace/core/bpf_permission.hpp"
#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/core/log.hpp"
#include "probe.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <map>

extern "C" __attribute__((noinline, used)) int aitrace_uprobe_target(int x) {
  asm volatile("" ::: "memory");  // keep the call from being folded away
  return x + 1;
}

namespace aitrace {
namespace {

using ProbeSkeleton = AITRACE_SKELETON_TYPE(probe);

bpf_program* probe_program(probe_bpf* s, HookKind kind) {
  switch (kind) {
    case HookKind::tp_btf: return s->progs.probe_tp_btf;
    case HookKind::raw_tp: return s->progs.probe_raw_tp;
    case HookKind::tracepoint: return s->progs.probe_tracepoint;
    case HookKind::fentry: return s->progs.probe_fentry;
    case HookKind::kprobe: return s->progs.probe_kprobe;
    case HookKind::uprobe: return s->progs.probe_uprobe;
    case HookKind::ringbuf: return s->progs.probe_ringbuf;
  }
  return nullptr;
}

bpf_link* attach_probe(bpf_program* prog, HookKind kind) {
  if (kind != HookKind::uprobe) return bpf_program__attach(prog);
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.func_name = "aitrace_uprobe_target";
  return bpf_program__attach_uprobe_opts(prog, 0 /* self */, "/proc/self/exe", 0, &opts);
}

// Classic tracepoints, kprobes and uprobes attach through perf_event_open(), which BPF tokens do
// not cover: in a user namespace it needs CAP_PERFMON in the initial namespace (seen on 6.18:
// EACCES with a token that delegates everything). Said where such a probe loaded but did not attach.
std::string perf_event_note(HookKind kind) {
  if (kind != HookKind::tracepoint && kind != HookKind::kprobe && kind != HookKind::uprobe) return {};
  if (!read_bpf_permission_facts().in_user_namespace.value_or(false)) return {};
  return "; in a user namespace these hooks attach through perf_event_open(), which needs CAP_PERFMON in the "
         "host's namespace: BPF tokens do not cover it";
}

// tp_btf and raw_tp, the two every tracing command asks about, are probed with a two-instruction
// program loaded by hand, with the attach target's id from kernel_btf_facts(): no libbpf object to
// open and relocate for a yes or no.
ProbeOutcome probe_raw_hook(HookKind kind) {
  const bpf_insn prog[] = {
      bpf_insn_of(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
      bpf_insn_of(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  bpf_prog_load_opts opts = prog_load_opts_with_token();
  bpf_prog_type type = BPF_PROG_TYPE_RAW_TRACEPOINT;
  if (kind == HookKind::tp_btf) {
    const KernelBtfFacts* f = kernel_btf_facts();
    auto proto = f ? f->tracepoint("sched_switch") : std::nullopt;
    if (!proto) return {false, "load: no kernel BTF prototype of sched_switch"};
    type = BPF_PROG_TYPE_TRACING;
    opts.expected_attach_type = BPF_TRACE_RAW_TP;
    opts.attach_btf_id = proto->typedef_id;
  }
  errno = 0;
  const int fd = bpf_prog_load(type, "aitrace_probe", "GPL", prog, 2, &opts);
  if (fd < 0) return {false, "load: " + bpf_error_text(errno ? errno : EINVAL)};
  errno = 0;
  // BPF_RAW_TRACEPOINT_OPEN attaches both (a tp_btf program's target is in the program).
  const int link = bpf_raw_tracepoint_open(kind == HookKind::tp_btf ? nullptr : "sched_switch", fd);
  const int err = errno;
  close(fd);
  if (link < 0) return {false, "attach: " + bpf_error_text(err ? err : EINVAL)};
  close(link);
  return {true, {}};
}

ProbeOutcome probe_attach(HookKind kind) {
  if (kind == HookKind::tp_btf || kind == HookKind::raw_tp) return probe_raw_hook(kind);
  if (kind == HookKind::tracepoint && tracefs_root().empty())
    return {false, "attach: " + tracefs_unavailable_reason()};
  auto skel = ProbeSkeleton::open("probe");
  if (!skel) return {false, skel.error().message};
  bpf_program* target = probe_program(skel->get(), kind);
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->get()->obj) bpf_program__set_autoload(prog, prog == target);
  int err = probe_bpf__load(skel->get());
  if (err) return {false, "load: " + bpf_error_text(err)};
  errno = 0;
  Link link(attach_probe(target, kind));
  if (!link.get()) return {false, "attach: " + bpf_error_text(errno ? errno : EINVAL)};
  return {true, {}};
}

ProbeOutcome probe_once(HookKind kind) {
  ProbeOutcome out = probe_attach(kind);
  if (!out.works && out.error.starts_with("attach:")) out.error += perf_event_note(kind);
  return out;
}

}  // namespace

const char* hook_kind_name(HookKind kind) {
  switch (kind) {
    case HookKind::tp_btf: return "tp_btf";
    case HookKind::raw_tp: return "raw_tp";
    case HookKind::tracepoint: return "tracepoint";
    case HookKind::fentry: return "fentry";
    case HookKind::kprobe: return "kprobe";
    case HookKind::uprobe: return "uprobe";
    case HookKind::ringbuf: return "ringbuf";
  }
  return "?";
}

std::optional<HookKind> parse_hook_kind(std::string_view name) {
  for (HookKind k : {HookKind::tp_btf, HookKind::raw_tp, HookKind::tracepoint, HookKind::fentry, HookKind::kprobe,
                     HookKind::uprobe, HookKind::ringbuf})
    if (name == hook_kind_name(k)) return k;
  return std::nullopt;
}

ProbeOutcome run_hook_probe(HookKind kind) {
  ProbeOutcome out = probe_once(kind);
  debug("probe {}: {}", hook_kind_name(kind), out.works ? "works" : out.error);
  return out;
}

struct HostFeatures::Cache {
  std::map<HookKind, ProbeOutcome> kinds;
  std::optional<bool> task_storage;
};

HostFeatures::HostFeatures() : cache_(std::make_unique<Cache>()) {}
HostFeatures::~HostFeatures() = default;

const ProbeOutcome& HostFeatures::hook_kind(HookKind kind) const {
  auto it = cache_->kinds.find(kind);
  if (it == cache_->kinds.end()) it = cache_->kinds.emplace(kind, run_hook_probe(kind)).first;
  return it->second;
}

bool HostFeatures::tracepoint_in_btf(std::string_view name) const { return aitrace::tracepoint_in_btf(name); }

bool HostFeatures::tracepoint_in_tracefs(std::string_view category, std::string_view name) const {
  return aitrace::tracepoint_in_tracefs(category, name);
}

bool HostFeatures::task_storage() const {
  if (!cache_->task_storage) cache_->task_storage = probe_task_storage();
  return *cache_->task_storage;
}

std::string HostFeatures::tracefs_problem() const { return tracefs_root().empty() ? tracefs_unavailable_reason() : ""; }

HookChoice choose_hook(const KernelFeatures& f, std::string_view category, std::string_view name,
                       const std::vector<HookKind>& kinds) {
  std::vector<size_t> order(kinds.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  if (f.preferred)
    std::stable_partition(order.begin(), order.end(), [&](size_t i) { return kinds[i] == *f.preferred; });
  HookChoice out;
  const bool in_btf = f.tracepoint_in_btf(name), in_tracefs = f.tracepoint_in_tracefs(category, name);
  for (size_t i : order) {
    const HookKind k = kinds[i];
    const bool exists = k == HookKind::tracepoint ? in_tracefs : k == HookKind::tp_btf ? in_btf : in_btf || in_tracefs;
    const ProbeOutcome& probe = f.hook_kind(k);
    if (exists && probe.works) {
      out.index = i;
      return out;
    }
    std::string why;
    if (exists) why = probe.error;
    else if (k == HookKind::tracepoint && !f.tracefs_problem().empty()) why = f.tracefs_problem();
    else why = "no such tracepoint in this kernel";
    out.reasons += (out.reasons.empty() ? "" : "; ") + std::string(hook_kind_name(k)) + ": " + why;
  }
  return out;
}

const btf* vmlinux_btf() {
  static btf* b = [] {
    btf* p = btf__load_vmlinux_btf();
    return libbpf_get_error(p) ? nullptr : p;
  }();
  return b;
}

std::string tracefs_root() {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    struct stat st{};
    if (stat((std::string(dir) + "/events").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  }
  return {};
}

std::string tracefs_unavailable_reason() {
  for (const char* dir : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}) {
    if (access(dir, F_OK) != 0 && errno == EACCES)
      return std::string("tracefs is not readable by this user (") + dir + ")";
  }
  return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
}

bool tracepoint_in_btf(std::string_view name) {
  const KernelBtfFacts* f = kernel_btf_facts();
  return f && f->tracepoint(name).has_value();
}

std::optional<int> kernel_tracepoint_arg_count(std::string_view name) {
  const KernelBtfFacts* f = kernel_btf_facts();
  auto proto = f ? f->tracepoint(name) : std::nullopt;
  if (!proto) return std::nullopt;
  return proto->args;
}

std::optional<int> tracepoint_arg_count(const btf* b, std::string_view name) {
  if (!b) return std::nullopt;
  std::string tname = "btf_trace_" + std::string(name);
  int id = btf__find_by_name_kind(b, tname.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return std::nullopt;
  const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  for (int hops = 0; t && hops < 4 && !btf_is_func_proto(t); hops++) t = btf__type_by_id(b, t->type);
  if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 1) return std::nullopt;
  return static_cast<int>(btf_vlen(t)) - 1;
}

bool sched_switch_has_prev_state() {
  auto n = kernel_tracepoint_arg_count("sched_switch");
  return !n || *n >= 4;
}

bool task_has_group_cfs_rq() {
  const KernelBtfFacts* f = kernel_btf_facts();
  return !f || (f->sched_entity_has_cfs_rq && f->cfs_rq_has_rq);
}

bool tracepoint_in_tracefs(std::string_view category, std::string_view name) {
  std::string root = tracefs_root();
  if (root.empty()) return false;
  std::string path = root + "/events/" + std::string(category) + "/" + std::string(name);
  return access(path.c_str(), F_OK) == 0;
}

bool tracepoint_exists(std::string_view category, std::string_view name) {
  return tracepoint_in_btf(name) || tracepoint_in_tracefs(category, name);
}

std::string HookStatus::state_text() const {
  switch (state) {
    case State::attached: return std::string("attached (") + (kind ? hook_kind_name(*kind) : "?") + ")";
    case State::absent: return "absent: " + detail;
    case State::failed: return "failed: " + detail;
  }
  return "?";
}

void HookSet::add(const KernelFeatures& features, std::string_view category, std::string_view name,
                  std::vector<HookCandidate> candidates) {
  std::vector<HookKind> kinds;
  kinds.reserve(candidates.size());
  for (const auto& c : candidates) kinds.push_back(c.kind);
  HookChoice choice = choose_hook(features, category, name, kinds);
  HookStatus st;
  st.event = std::string(category) + ":" + std::string(name);
  for (size_t i = 0; i < candidates.size(); i++) bpf_program__set_autoload(candidates[i].prog, choice.index == i);
  if (choice.index) {
    st.kind = candidates[*choice.index].kind;
  } else {
    st.state = HookStatus::State::absent;
    st.detail = choice.reasons.empty() ? "no hook candidates" : choice.reasons;
  }
  statuses_.push_back(std::move(st));
  if (choice.index) chosen_.push_back({statuses_.size() - 1, candidates[*choice.index].prog});
}

void HookSet::attach_all() {
  for (const auto& c : chosen_) {
    HookStatus& st = statuses_[c.status_index];
    errno = 0;
    bpf_link* l = bpf_program__attach(c.prog);
    if (!l) {
      st.state = HookStatus::State::failed;
      st.detail = bpf_error_text(errno ? errno : EINVAL);
      warn("cannot attach {}: {}", st.event, st.detail);
      continue;
    }
    st.state = HookStatus::State::attached;
    links_.emplace_back(l);
    debug("{} attached as {}", st.event, hook_kind_name(st.kind.value()));  // chosen_ holds chosen kinds only
  }
}

const HookStatus* HookSet::status(std::string_view event) const {
  for (const auto& s : statuses_)
    if (s.event == event) return &s;
  return nullptr;
}

bool HookSet::attached(std::string_view event) const {
  const HookStatus* s = status(event);
  return s && s->state == HookStatus::State::attached;
}

size_t HookSet::attached_count() const {
  size_t n = 0;
  for (const auto& s : statuses_) n += s.state == HookStatus::State::attached;
  return n;
}

}  // namespace aitrace
