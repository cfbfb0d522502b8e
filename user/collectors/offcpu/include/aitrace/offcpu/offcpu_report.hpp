// What `aitrace offcpu` reports: off-CPU time per symbolized stack (OffcpuSnapshot), and its
// renderings: the top stacks as text, folded stacks (flamegraph.pl, speedscope), the
// aitrace.offcpu/1 JSON document (docs/offcpu.md).
#pragma once

#include "aitrace/offcpu_events.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace aitrace {

struct OffcpuStack {
  uint32_t tgid = 0;
  std::string comm;  // raw kernel bytes; escaped when rendered
  uint32_t state = AITRACE_OFFCPU_SLEEP;
  int32_t user_stack_id = AITRACE_OFFCPU_NO_STACK, kernel_stack_id = AITRACE_OFFCPU_NO_STACK;
  // Innermost frame first, as the kernel records them. A stack that could not be recorded has
  // one frame that says why ("[lost: ...]"); a kernel thread has no user frames.
  std::vector<std::string> user_frames, kernel_frames;
  bool truncated = false;  // a stack filled all AITRACE_OFFCPU_MAX_FRAMES: its outer frames are cut
  uint64_t total_ns = 0, count = 0;
  // --wakers: the task whose wakeup ended these intervals (has_waker false: none seen).
  bool has_waker = false;
  uint32_t waker_tgid = 0;
  std::string waker_comm;
  std::vector<std::string> waker_user_frames, waker_kernel_frames;  // innermost first
};

struct OffcpuSnapshot {
  std::vector<OffcpuStack> stacks;  // unordered
  offcpu_lost lost{};
  uint64_t fork_overflow = 0;
  // Blocks whose switch-in no tracer saw, closed from the kernel's sched_info stamps (not lost).
  uint64_t switch_ins_repaired = 0;
  uint64_t truncated_stacks() const;
};

// Adds up the rows that show the same thing (process, comm, state and frames) into the first.
void offcpu_merge_same_frames(OffcpuSnapshot& s);

// now - before, for interval reports (every total only grows while tracing).
OffcpuSnapshot offcpu_delta(const OffcpuSnapshot& now, const OffcpuSnapshot& before);

// Heaviest first; equal stacks of one process with other comms or states stay apart.
std::vector<const OffcpuStack*> offcpu_ranked(const OffcpuSnapshot& s);

struct OffcpuHookState {
  std::string event;
  std::string state;
};

struct OffcpuReportContext {
  uint32_t states = AITRACE_OFFCPU_STATES_ALL;  // --state
  uint64_t min_ns = 0, max_ns = UINT64_MAX;
  size_t top = 10;
  bool interval = false;  // interval headers are the driver's
  std::string span;       // the whole run's wall-clock span, for its first line
  uint64_t duration_ns = 0;
  std::vector<OffcpuHookState> hooks;
};

std::string offcpu_state_name(uint32_t state);  // "sleep" / "block"
std::string offcpu_text(const OffcpuSnapshot& s, const OffcpuReportContext& ctx);
// One "comm;user frames;kernel frames value" line per distinct path, outermost frame first,
// value in microseconds; identical paths are merged. The format has no place for the lost
// counts: the collector prints offcpu_lost_line() on stderr beside it.
std::string offcpu_folded(const OffcpuSnapshot& s);
// The frames of a stack as a flame graph path: comm, user frames, kernel frames, root first;
// with a waker, then "--" and the waker's kernel and user frames innermost first and its comm
// (offwaketime's layout: the waker's stack stands upside down on the blocked one).
std::vector<std::string> offcpu_path(const OffcpuStack& st);
std::string offcpu_lost_line(const OffcpuSnapshot& s);
// The flame graph of every stack (`--svg`, and capture's offcpu.svg): self-contained SVG, times in
// microseconds, the lost line as its subtitle.
std::string offcpu_flame_graph(const OffcpuSnapshot& s);
// The collector's keys of the aitrace.offcpu/2 document (the driver adds the envelope: schema,
// times, hooks, lost, group_by) and its `lost` object.
nlohmann::json offcpu_json(const OffcpuSnapshot& s, const OffcpuReportContext& ctx);
nlohmann::json offcpu_lost_json(const OffcpuSnapshot& s);

}  // namespace aitrace
