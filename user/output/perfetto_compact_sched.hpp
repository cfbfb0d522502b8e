// One CPU's FtraceEventBundle while it fills: sched_switch and sched_waking in Perfetto's compact
// form (FtraceEventBundle.CompactSched: comms interned per bundle, timestamps delta-encoded,
// one packed array per field), every other event as a whole FtraceEvent. How the upstream
// importer reads the compact form (src/trace_processor/importers/ftrace/ftrace_tokenizer.cc,
// TokenizeFtraceCompactSchedSwitch/Waking): per bundle, each array's first timestamp is absolute
// and each next one a delta from its predecessor; a comm is an index into the bundle's
// intern_table; a switch carries only its next task, its prev task being the previous switch's
// next task on that CPU, so every CPU's chain of switches must be whole.
#pragma once

#include "perfetto_trace.pb.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aitrace {

class CompactSchedBundle {
 public:
  void sched_switch(uint64_t ts, int64_t prev_state, uint32_t next_pid, int32_t next_prio, std::string_view next_comm);
  void sched_waking(uint64_t ts, uint32_t pid, int32_t prio, std::string_view comm, uint32_t target_cpu);
  // Any other event, as a whole FtraceEvent with its timestamp and pid set.
  perfetto::protos::FtraceEvent* event(uint64_t ts, uint32_t pid);

  size_t events() const { return events_; }
  // Appends the FtraceEventBundle's encoding (the message, not its packet) and starts anew.
  void encode(uint32_t cpu, std::string& out);

 private:
  uint32_t intern(std::string_view comm);

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Raw comm -> its index in intern_ (which holds it as valid UTF-8), for this bundle.
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
  std::vector<std::string> intern_;
  // The packed arrays' encoded elements.
  std::string switch_ts_, switch_state_, switch_pid_, switch_prio_, switch_comm_;
  std::string waking_ts_, waking_pid_, waking_cpu_, waking_prio_, waking_comm_;
  uint64_t last_switch_ts_ = 0, last_waking_ts_ = 0;
  perfetto::protos::FtraceEventBundle others_;
  std::string scratch_;
  size_t events_ = 0;
};

}  // namespace aitrace
