// Consumes one or more BPF ring buffers (e.g. one per CPU shard) through a single epoll fd.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

struct ring_buffer;

namespace aitrace {

class RingReader {
 public:
  // Called once per record; data points into the ring, valid only during the call.
  using Handler = std::function<void(std::span<const std::byte> record)>;

  explicit RingReader(Handler handler) : handler_(std::move(handler)) {}
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;
  ~RingReader();

  Status add(int map_fd);     // a BPF_MAP_TYPE_RINGBUF map
  int epoll_fd() const;       // readable when any ring has data
  Result<size_t> poll(int timeout_ms);
  // One bounded pass without waiting: per ring, the records present when it began (so it
  // ends even while producers outpace the consumer). Returns the records consumed.
  Result<size_t> drain();
  // Passes until the rings are empty: for the end, once the producers are detached.
  Result<size_t> drain_all();
  size_t consumed() const { return consumed_; }
  size_t passes() const { return passes_; }

 private:
  static constexpr int kBudgetSpent = -1000;  // a callback return libbpf passes back unchanged
  static int on_record(void* ctx, void* data, size_t size);
  Handler handler_;
  ring_buffer* rb_ = nullptr;
  uint32_t rings_ = 0;
  size_t consumed_ = 0, passes_ = 0;
  size_t pass_records_ = 0, pass_bytes_ = 0, pass_budget_ = 0;
};

}  // namespace aitrace
