#include "aitrace/eevdf/eevdf_options.hpp"
#include "aitrace/driver/options.hpp"

#include <charconv>

namespace aitrace {

void add_eevdf_options(CLI::App* cmd, EevdfCliOptions& o) {
  cmd->add_flag("--eevdf", o.eevdf,
                "Per-thread EEVDF analysis: slices, weights, lag, preemptions (records every switch)");
  cmd->add_option("--trace", o.trace, "Write a Perfetto trace (sched_switch/sched_waking, EEVDF counters) to FILE")
      ->check(non_empty_value());
  cmd->add_option("--trace-buffer", o.trace_buffer, "Ring buffer per CPU for --eevdf/--trace (power of two: 4M, 256K)")
      ->check(non_empty_value());
}

Result<SchedTraceOptions> sched_trace_options(const EevdfCliOptions& o) {
  SchedTraceOptions s;
  s.trace_path = o.trace;
  if (!o.trace_buffer.empty()) {
    const std::string& t = o.trace_buffer;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    std::string unit(p, t.data() + t.size());
    uint64_t scale = unit.empty() ? 1 : unit == "K" || unit == "k" ? 1024 : unit == "M" || unit == "m" ? 1 << 20 : 0;
    constexpr uint64_t kMaxBytes = 1u << 30;
    // Compared before multiplying: 2^44+1 M would wrap around to exactly 1M.
    const bool in_range = scale && v <= kMaxBytes / scale;
    uint64_t bytes = in_range ? v * scale : 0;
    if (ec != std::errc() || !in_range || !bytes || (bytes & (bytes - 1)))
      return make_error(ErrorKind::usage,
                        "invalid --trace-buffer '{}': expected a power of two like 4M or 256K (at most 1G)", t);
    s.ring_bytes = static_cast<uint32_t>(bytes);
  }
  return s;
}

}  // namespace aitrace
