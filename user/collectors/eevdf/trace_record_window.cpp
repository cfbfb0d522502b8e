#include "aitrace/eevdf/trace_record_window.hpp"

#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/output/perfetto_writer.hpp"
#include "aitrace/sched_trace_events.h"

#include <algorithm>
#include <cstring>

namespace aitrace {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// Each kept record: its length, then its bytes (records differ in size by kind).
template <class F>
void each_record(const std::vector<std::byte>& data, F&& f) {
  for (size_t at = 0; at + sizeof(uint32_t) <= data.size();) {
    uint32_t len = 0;
    std::memcpy(&len, data.data() + at, sizeof(len));
    at += sizeof(len);
    f(std::span<const std::byte>(data.data() + at, len));
    at += len;
  }
}

uint64_t record_ts(std::span<const std::byte> rec) {
  aitrace_st_header h{};
  std::memcpy(&h, rec.data(), sizeof(h));
  return h.ts;
}

}  // namespace

TraceRecordWindow::TraceRecordWindow(uint64_t window_ns, uint64_t max_bytes)
    : window_ns_(window_ns), max_bytes_(std::max<uint64_t>(max_bytes, 2 * kChunkBytes)) {}

void TraceRecordWindow::add(std::span<const std::byte> rec) {
  if (rec.size() < sizeof(aitrace_st_header) || rec.size() > kChunkBytes / 2) return;
  const uint64_t ts = record_ts(rec);
  if (chunks_.empty() || chunks_.back().data.size() + sizeof(uint32_t) + rec.size() > kChunkBytes) {
    chunks_.emplace_back();
    chunks_.back().data.reserve(kChunkBytes);
    bytes_ += kChunkBytes;
  }
  Chunk& c = chunks_.back();
  const auto len = static_cast<uint32_t>(rec.size());
  const auto* lp = reinterpret_cast<const std::byte*>(&len);
  c.data.insert(c.data.end(), lp, lp + sizeof(len));
  c.data.insert(c.data.end(), rec.begin(), rec.end());
  c.last_ts = std::max(c.last_ts, ts);
  c.records++;
  newest_ts_ = std::max(newest_ts_, ts);
  evict(newest_ts_);
}

void TraceRecordWindow::evict(uint64_t newest_ts) {
  // Records from different CPUs arrive out of order by up to a ring's drain: a chunk goes when
  // its newest record is out of the window, so a dump may start slightly before its window.
  while (chunks_.size() > 1 && chunks_.front().last_ts + window_ns_ < newest_ts) {
    bytes_ -= kChunkBytes;
    chunks_.pop_front();
  }
  while (chunks_.size() > 1 && bytes_ > max_bytes_) {
    evicted_for_memory_ += chunks_.front().records;
    bytes_ -= kChunkBytes;
    chunks_.pop_front();
  }
}

Result<TraceWindowDump> TraceRecordWindow::write_perfetto(const std::string& path, uint64_t since_ns) const {
  auto w = PerfettoWriter::create(path);
  if (!w) return w.error();
  PerfettoWriter& writer = **w;
  writer.system_info();
  SchedTraceDecoder decoder(nullptr, &writer);
  TraceWindowDump d;
  d.evicted_for_memory = evicted_for_memory_;
  for (const Chunk& c : chunks_) {
    if (c.last_ts < since_ns) continue;
    each_record(c.data, [&](std::span<const std::byte> rec) {
      const uint64_t ts = record_ts(rec);
      if (ts < since_ns) return;
      decoder.on_record(rec);
      d.first_ts = d.records ? std::min(d.first_ts, ts) : ts;
      d.last_ts = std::max(d.last_ts, ts);
      d.records++;
    });
  }
  AITRACE_TRY(writer.finish());
  d.packets = writer.packets_written();
  d.bytes = writer.bytes_written();
  return d;
}

}  // namespace aitrace
