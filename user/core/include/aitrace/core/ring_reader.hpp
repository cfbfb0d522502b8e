// Consumes one or more BPF ring buffers (e.g. one per CPU shard) through a single epoll fd.
#pragma once

#include "aitrace/core/result.hpp"

#include <cstddef>
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
  Result<size_t> drain();     // consume everything available without waiting
  size_t consumed() const { return consumed_; }

 private:
  static int on_record(void* ctx, void* data, size_t size);
  Handler handler_;
  ring_buffer* rb_ = nullptr;
  size_t consumed_ = 0;
};

}  // namespace aitrace
