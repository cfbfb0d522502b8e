#include "aitrace/core/ring_reader.hpp"

#include "aitrace/core/bpf_object.hpp"

#include <bpf/libbpf.h>
#include <cstdint>
#include <linux/bpf.h>

namespace aitrace {

RingReader::~RingReader() {
  if (rb_) ring_buffer__free(rb_);
}

// What a record takes in the ring: its 8-byte header and the data, 8-byte aligned.
constexpr size_t ring_footprint(size_t size) { return (size + BPF_RINGBUF_HDR_SZ + 7) & ~size_t{7}; }

int RingReader::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  self->handler_(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  self->consumed_++;
  self->pass_records_++;
  self->pass_bytes_ += ring_footprint(size);
  // A negative return makes libbpf stop this ring after this record (which stays consumed).
  return self->pass_bytes_ >= self->pass_budget_ ? kBudgetSpent : 0;
}

Status RingReader::add(int map_fd) {
  if (!rb_) {
    errno = 0;
    rb_ = ring_buffer__new(map_fd, &RingReader::on_record, this, nullptr);
    if (!rb_) return make_error(ErrorKind::runtime, "cannot create ring buffer reader: {}", bpf_error_text(errno));
    rings_++;
    return {};
  }
  int err = ring_buffer__add(rb_, map_fd, &RingReader::on_record, this);
  if (err) return make_error(ErrorKind::runtime, "cannot add ring buffer: {}", bpf_error_text(err));
  rings_++;
  return {};
}

int RingReader::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

Result<size_t> RingReader::poll(int timeout_ms) {
  if (!rb_) return size_t{0};
  // poll takes everything it finds: no per-pass budget (drain() sets its own).
  pass_bytes_ = 0;
  pass_budget_ = SIZE_MAX;
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return make_error(ErrorKind::runtime, "ring buffer poll failed: {}", bpf_error_text(n));
  return static_cast<size_t>(n < 0 ? 0 : n);
}

Result<size_t> RingReader::drain() {
  if (!rb_) return size_t{0};
  // libbpf's consume goes on while producers keep adding: under whole-system load it can
  // run for seconds and the run loop sees no signal. One pass takes, per ring, only the bytes
  // present when the pass began; whatever arrives meanwhile waits for the next pass.
  pass_records_ = 0;
  for (uint32_t i = 0; i < rings_; i++) {
    ring* r = ring_buffer__ring(rb_, i);
    if (!r) continue;
    pass_budget_ = ring__avail_data_size(r);
    if (!pass_budget_) continue;
    pass_bytes_ = 0;
    int n = ring__consume(r);
    if (n < 0 && n != kBudgetSpent)
      return make_error(ErrorKind::runtime, "ring buffer consume failed: {}", bpf_error_text(n));
  }
  passes_++;
  return pass_records_;
}

Result<size_t> RingReader::drain_all() {
  size_t total = 0;
  for (;;) {
    auto n = drain();
    if (!n) return n.error();
    if (!*n) return total;
    total += *n;
  }
}

}  // namespace aitrace
