// Flight-recorder triggers (`--trigger EXPR`, docs/capture.md "Triggers"), evaluated on every
// -i interval's report documents:
//
//   EXPR   := SOURCE '.' NAME [ '.' STAT ] OP VALUE
//   sched.<runq_wakeup|runq_preempt|oncpu|offcpu_sleep|offcpu_block>.<p50|p90|p99|p999|max|count>
//   migrate.<pages|pages_failed|calls>
//   OP     := '>' | '>='
//   VALUE  := a duration (500us, 5ms, 1s) for a percentile or max; a whole number for a count
//
// A sched expression holds when any one group's value in the interval crosses the threshold.
#pragma once

#include "aitrace/core/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace aitrace {

struct Trigger {
  std::string text;        // as given
  std::string source;      // "sched", "migrate"
  std::string name;        // "runq_wakeup", "pages"
  std::string stat;        // "p99", "count" (sched only)
  bool or_equal = false;   // >=
  uint64_t threshold = 0;  // ns for durations

  // The interval's value (the largest of any group for sched), or none when the collector did
  // not run; `what` says where it came from ("cc1 (123)").
  std::optional<uint64_t> value(const std::map<std::string, nlohmann::json>& interval_docs, std::string* what) const;
  bool fires(uint64_t v) const { return or_equal ? v >= threshold : v > threshold; }
};

// A usage error names the bad token and its column: "invalid --trigger 'x.y>1': unknown source
// 'x' at column 1 (expected sched or migrate)".
Result<Trigger> parse_trigger(const std::string& text);

}  // namespace aitrace
