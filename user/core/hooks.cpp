#include "aitrace/core/hooks.hpp"

#include "aitrace/core/log.hpp"
#include "probe.skel.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

ProbeOutcome run_probe(HookKind kind) {
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

std::string env_hook_preference() {
  const char* v = std::getenv("AITRACE_HOOK");
  return v ? v : "";
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

const ProbeOutcome& probe_hook_kind(HookKind kind) {
  static std::map<HookKind, ProbeOutcome> cache;
  auto it = cache.find(kind);
  if (it == cache.end()) {
    it = cache.emplace(kind, run_probe(kind)).first;
    debug("probe {}: {}", hook_kind_name(kind), it->second.works ? "works" : it->second.error);
  }
  return it->second;
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

void HookSet::add(std::string_view category, std::string_view name, std::vector<HookCandidate> candidates) {
  std::string pref = env_hook_preference();
  if (!pref.empty()) {
    std::stable_partition(candidates.begin(), candidates.end(),
                          [&](const HookCandidate& c) { return pref == hook_kind_name(c.kind); });
  }
  HookStatus st;
  st.event = std::string(category) + ":" + std::string(name);
  bool in_btf = tracepoint_in_btf(name);
  bool in_tracefs = tracepoint_in_tracefs(category, name);
  std::string reasons;
  bpf_program* picked = nullptr;
  for (const auto& c : candidates) {
    if (picked) {
      bpf_program__set_autoload(c.prog, false);
      continue;
    }
    // tp_btf needs the tracepoint's BTF prototype; raw_tp only needs the tracepoint (modules'
    // tracepoints can lack vmlinux BTF); the classic flavour needs its tracefs id.
    bool exists = c.kind == HookKind::tracepoint ? in_tracefs : c.kind == HookKind::tp_btf ? in_btf : in_btf || in_tracefs;
    const ProbeOutcome& probe = probe_hook_kind(c.kind);
    if (exists && probe.works) {
      picked = c.prog;
      st.kind = c.kind;
      continue;
    }
    bpf_program__set_autoload(c.prog, false);
    if (!reasons.empty()) reasons += "; ";
    reasons += std::string(hook_kind_name(c.kind)) + ": " +
               (!exists ? (c.kind == HookKind::tracepoint && tracefs_root().empty() ? tracefs_unavailable_reason()
                                                                                   : "no such tracepoint in this kernel")
                        : probe.error);
  }
  if (!picked) {
    st.state = HookStatus::State::absent;
    st.detail = reasons.empty() ? "no hook candidates" : reasons;
  }
  statuses_.push_back(std::move(st));
  if (picked) chosen_.push_back({statuses_.size() - 1, picked});
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
    debug("{} attached as {}", st.event, hook_kind_name(*st.kind));
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
