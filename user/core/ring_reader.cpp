#include "aitrace/core/ring_reader.hpp"

#include "aitrace/core/bpf_object.hpp"

#include <bpf/libbpf.h>

namespace aitrace {

RingReader::~RingReader() {
  if (rb_) ring_buffer__free(rb_);
}

int RingReader::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  self->handler_(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  self->consumed_++;
  return 0;
}

Status RingReader::add(int map_fd) {
  if (!rb_) {
    errno = 0;
    rb_ = ring_buffer__new(map_fd, &RingReader::on_record, this, nullptr);
    if (!rb_) return make_error(ErrorKind::runtime, "cannot create ring buffer reader: {}", bpf_error_text(errno));
    return {};
  }
  int err = ring_buffer__add(rb_, map_fd, &RingReader::on_record, this);
  if (err) return make_error(ErrorKind::runtime, "cannot add ring buffer: {}", bpf_error_text(err));
  return {};
}

int RingReader::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

Result<size_t> RingReader::poll(int timeout_ms) {
  if (!rb_) return size_t{0};
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return make_error(ErrorKind::runtime, "ring buffer poll failed: {}", bpf_error_text(n));
  return static_cast<size_t>(n < 0 ? 0 : n);
}

Result<size_t> RingReader::drain() {
  if (!rb_) return size_t{0};
  int n = ring_buffer__consume(rb_);
  if (n < 0) return make_error(ErrorKind::runtime, "ring buffer consume failed: {}", bpf_error_text(n));
  return static_cast<size_t>(n);
}

}  // namespace aitrace
