#include "aitrace/core/hooks.hpp"

#include "aitrace/core/bpf_feature_probe.hpp"
#include "aitrace/core/bpf_permission.hpp"
#include "aitrace/core/log.hpp"
#include "probe.skel.h"

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

ProbeOutcome probe_attach(HookKind kind) {
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
  const btf* b = vmlinux_btf();
  if (!b) return false;
  std::string tname = "btf_trace_" + std::string(name);
  return btf__find_by_name_kind(b, tname.c_str(), BTF_KIND_TYPEDEF) > 0;
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
  auto n = tracepoint_arg_count(vmlinux_btf(), "sched_switch");
  return !n || *n >= 4;
}

namespace {

bool struct_has_member(const btf* b, const char* type, const char* member) {
  int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
  const btf_type* t = id > 0 ? btf__type_by_id(b, static_cast<__u32>(id)) : nullptr;
  if (!t) return false;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    const char* name = btf__name_by_offset(b, m->name_off);
    if (name && std::string_view(name) == member) return true;
  }
  return false;
}

}  // namespace

bool task_has_group_cfs_rq() {
  const btf* b = vmlinux_btf();
  return !b || (struct_has_member(b, "sched_entity", "cfs_rq") && struct_has_member(b, "cfs_rq", "rq"));
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
