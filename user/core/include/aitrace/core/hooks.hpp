// Hook selection: for each tracepoint a collector needs, pick the best hook type this kernel
// really accepts (tp_btf -> raw_tp -> classic tracepoint), attach it, and report per event what
// attached and what could not (and why). A missing hook disables one metric, never the tool.
#pragma once

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct bpf_program;
struct btf;

namespace aitrace {

enum class HookKind { tp_btf, raw_tp, tracepoint, fentry, kprobe, uprobe, ringbuf };
const char* hook_kind_name(HookKind kind);
std::optional<HookKind> parse_hook_kind(std::string_view name);

struct ProbeOutcome {
  bool works = false;
  std::string error;  // where it failed and the errno text, empty when it works
};

// Loads (and attaches) a tiny program of this kind, now (uncached: KernelFeatures caches).
ProbeOutcome run_hook_probe(HookKind kind);

// Kernel BTF (/sys/kernel/btf/vmlinux) parsed by libbpf, loaded once and kept (~12 MB); nullptr
// when the kernel has none. Only for readers of arbitrary types (doctor, migrate's enum names):
// tracing start-up asks kernel_btf_facts() (kernel_btf_facts.hpp).
const btf* vmlinux_btf();
// The tracefs mount (/sys/kernel/tracing or the debugfs one), empty when not mounted.
std::string tracefs_root();
// Why tracefs_root() is empty: not mounted, or mounted but not readable (0700 for non-root).
std::string tracefs_unavailable_reason();
// Is category:name a tracepoint of this kernel? BTF (btf_trace_<name>) first, then tracefs.
bool tracepoint_exists(std::string_view category, std::string_view name);
bool tracepoint_in_btf(std::string_view name);
// Arguments of a tracepoint's TP_PROTO in BTF `b` (its btf_trace_<name> typedef points to a
// function whose first parameter is the tracepoint's private data); nullopt when `b` lacks it.
// Prototypes grow across versions (sched_switch's prev_state in 5.18), and raw_tp programs read
// arguments by position.
std::optional<int> tracepoint_arg_count(const btf* b, std::string_view name);
// The same for the running kernel, from kernel_btf_facts() (no full BTF parse).
std::optional<int> kernel_tracepoint_arg_count(std::string_view name);
// Whether this kernel's sched_switch passes prev_state (5.18+: preempt, prev, next, prev_state).
bool sched_switch_has_prev_state();
// Whether a task's run queue can be reached from the task: sched_entity.cfs_rq and cfs_rq.rq
// exist only with CONFIG_FAIR_GROUP_SCHED (true without BTF: the load then fails anyway).
bool task_has_group_cfs_rq();
bool tracepoint_in_tracefs(std::string_view category, std::string_view name);

// What this kernel offers, asked by hook selection and collectors. An object passed in, so that
// the fallback choice is decided from it alone (unit tests give fixed answers) and a run can
// prefer one hook type (--hook) without process-wide state.
class KernelFeatures {
 public:
  virtual ~KernelFeatures() = default;
  // Whether a tiny program of this hook type loads and attaches here (and why not).
  virtual const ProbeOutcome& hook_kind(HookKind kind) const = 0;
  virtual bool tracepoint_in_btf(std::string_view name) const = 0;
  virtual bool tracepoint_in_tracefs(std::string_view category, std::string_view name) const = 0;
  // BPF_MAP_TYPE_TASK_STORAGE (5.11+): per-task state without a tid-keyed map.
  virtual bool task_storage() const = 0;
  // Why classic tracepoints cannot attach (tracefs missing or unreadable); empty when they can.
  virtual std::string tracefs_problem() const = 0;

  // Tried first wherever a hook offers it (the hidden --hook option; tests force fallbacks).
  std::optional<HookKind> preferred;
};

// The running kernel, probed on first use of each answer and remembered by this object.
class HostFeatures final : public KernelFeatures {
 public:
  HostFeatures();
  ~HostFeatures() override;
  const ProbeOutcome& hook_kind(HookKind kind) const override;
  bool tracepoint_in_btf(std::string_view name) const override;
  bool tracepoint_in_tracefs(std::string_view category, std::string_view name) const override;
  bool task_storage() const override;
  std::string tracefs_problem() const override;

 private:
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// The hook selection rule on its own: the first kind in `kinds` (after moving
// features.preferred to the front) whose hook type works and whose tracepoint exists in the
// form that type needs: tp_btf needs the BTF prototype, raw_tp the tracepoint in BTF or
// tracefs (modules' tracepoints can lack vmlinux BTF), the classic flavour its tracefs id.
struct HookChoice {
  std::optional<size_t> index;  // into `kinds`; none when nothing works
  std::string reasons;          // why each kind tried before the pick (or all) was refused
};
HookChoice choose_hook(const KernelFeatures& features, std::string_view category, std::string_view name,
                       const std::vector<HookKind>& kinds);

struct HookCandidate {
  HookKind kind;
  bpf_program* prog;
};

struct HookStatus {
  enum class State { attached, absent, failed };
  std::string event;  // "sched:sched_switch"
  State state = State::absent;
  std::optional<HookKind> kind;  // the hook type chosen
  std::string detail;            // why absent/failed
  std::string state_text() const;  // "attached (tp_btf)", "absent: ...", "failed: ..."
};

class HookSet {
 public:
  // Before load: choose a candidate by choose_hook() on `features` and switch off autoload of the
  // others. The set keeps no reference to `features`: it outlives the driver's run.
  void add(const KernelFeatures& features, std::string_view category, std::string_view name,
           std::vector<HookCandidate> candidates);
  // After load: attach every chosen program; failures are recorded, not fatal.
  void attach_all();
  void detach_all() { links_.clear(); }

  const std::vector<HookStatus>& statuses() const { return statuses_; }
  const HookStatus* status(std::string_view event) const;
  bool attached(std::string_view event) const;
  size_t attached_count() const;

 private:
  struct Chosen {
    size_t status_index;
    bpf_program* prog;
  };
  std::vector<HookStatus> statuses_;
  std::vector<Chosen> chosen_;
  std::vector<Link> links_;
};

}  // namespace aitrace
