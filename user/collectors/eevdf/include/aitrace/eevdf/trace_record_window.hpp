// The recent past of the EEVDF trace, kept in memory as the BPF records themselves, for the
// flight recorder (`aitrace capture --flight-recorder W --trace`): a dump turns the records of
// its window into a Perfetto trace with a fresh writer, so the file decodes on its own (its own
// interned names and process tracks), whatever was dumped before.
//
// Bounded twice: records older than the window go, and past `max_bytes` the oldest go too (the
// kept span then covers less than the window; `evicted_for_memory` counts those records and every
// dump says so). Storage is in 1 MiB chunks dropped whole, so the bound costs no per-record free.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

namespace aitrace {

struct TraceWindowDump {
  uint64_t records = 0;           // written into the file
  uint64_t first_ts = 0, last_ts = 0;  // CLOCK_BOOTTIME of the first and last written record
  uint64_t evicted_for_memory = 0;     // records dropped by max_bytes since the start
  uint64_t packets = 0, bytes = 0;     // the file's
};

class TraceRecordWindow {
 public:
  TraceRecordWindow(uint64_t window_ns, uint64_t max_bytes);

  // A record of bpf/sched_trace.bpf.c (aitrace_st_header first); malformed ones are not kept.
  void add(std::span<const std::byte> rec);
  // The records from `since_ns` (CLOCK_BOOTTIME) on, as a Perfetto trace at `path` (written to a
  // temporary and renamed: no partial file under the name).
  Result<TraceWindowDump> write_perfetto(const std::string& path, uint64_t since_ns) const;

  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t evicted_for_memory() const { return evicted_for_memory_; }

 private:
  struct Chunk {
    std::vector<std::byte> data;  // [u32 length][record] ...
    uint64_t last_ts = 0;
    uint64_t records = 0;
  };
  void evict(uint64_t newest_ts);
  uint64_t window_ns_, max_bytes_;
  std::deque<Chunk> chunks_;
  uint64_t bytes_ = 0, newest_ts_ = 0, evicted_for_memory_ = 0;
};

}  // namespace aitrace
