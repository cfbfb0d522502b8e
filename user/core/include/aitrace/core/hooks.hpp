// Hook selection: for each tracepoint a collector needs, pick the best hook type this kernel
// really accepts (tp_btf -> raw_tp -> classic tracepoint), attach it, and report per event what
// attached and what could not (and why). A missing hook disables one metric, never the tool.
#pragma once

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/result.hpp"

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

// Loads (and attaches) a tiny program of this kind; cached for the process lifetime.
const ProbeOutcome& probe_hook_kind(HookKind kind);

// Kernel BTF (/sys/kernel/btf/vmlinux), loaded once; nullptr when the kernel has none.
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
// Whether this kernel's sched_switch passes prev_state (5.18+: preempt, prev, next, prev_state).
bool sched_switch_has_prev_state();
// Whether a task's run queue can be reached from the task: sched_entity.cfs_rq and cfs_rq.rq
// exist only with CONFIG_FAIR_GROUP_SCHED (true without BTF: the load then fails anyway).
bool task_has_group_cfs_rq();
bool tracepoint_in_tracefs(std::string_view category, std::string_view name);

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
  // Before load: choose the first candidate whose hook type works here and whose tracepoint
  // exists, and switch off autoload of the others. The environment variable AITRACE_HOOK
  // (tp_btf|raw_tp|tracepoint) moves that type to the front, so tests can force a fallback.
  void add(std::string_view category, std::string_view name, std::vector<HookCandidate> candidates);
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
