#include "sched_thread_stats.hpp"

#include "aitrace/core/bpf_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aitrace {

ThreadStats decode_thread_stats(const aitrace_sched_thread_stats& s) {
  constexpr uint32_t kRows = AITRACE_HIST_BUCKETS / AITRACE_HIST_SUB;
  ThreadStats t;
  t.counters = {s.switches, s.involuntary, s.migrations, s.numa_moves, s.numa_swaps};
  std::copy(std::begin(s.metrics), std::end(s.metrics), t.metrics.begin());
  for (uint32_t i = 0; i < AITRACE_SCHED_THREAD_ROWS; i++) {
    if (!s.tags[i]) break;  // rows are taken in order
    const uint32_t metric = (s.tags[i] - 1u) / AITRACE_SCHED_THREAD_TAG_ROWS;
    const uint32_t row = (s.tags[i] - 1u) % AITRACE_SCHED_THREAD_TAG_ROWS;
    if (metric >= AITRACE_SCHED_METRICS || row >= kRows) continue;
    for (uint32_t sub = 0; sub < AITRACE_HIST_SUB; sub++)
      if (s.counts[i][sub]) t.buckets[metric].emplace_back(row * AITRACE_HIST_SUB + sub, s.counts[i][sub]);
  }
  return t;
}

Status read_live_threads(bpf_link* iter, ThreadStatsBySlot& out) {
  constexpr size_t kRecord = sizeof(aitrace_sched_thread_record) + sizeof(aitrace_sched_thread_stats);
  const int fd = bpf_iter_create(bpf_link__fd(iter));
  if (fd < 0) return make_error(ErrorKind::runtime, "reading threads' statistics: {}", bpf_error_text(-errno));
  // The kernel hands out whole records per object, but a read() may still end inside one.
  std::vector<std::byte> buf(64 * kRecord);
  size_t have = 0;
  for (;;) {
    const ssize_t n = read(fd, buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return make_error(ErrorKind::runtime, "reading threads' statistics: {}", bpf_error_text(-err));
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
    size_t at = 0;
    for (; have - at >= kRecord; at += kRecord) {
      aitrace_sched_thread_record r;
      std::memcpy(&r, buf.data() + at, sizeof(r));
      aitrace_sched_thread_stats s;
      std::memcpy(&s, buf.data() + at + sizeof(r), sizeof(s));
      out[r.slot] = decode_thread_stats(s);
    }
    std::memmove(buf.data(), buf.data() + at, have - at);
    have -= at;
  }
  close(fd);
  if (have) return make_error(ErrorKind::runtime, "reading threads' statistics: {} bytes of a partial record", have);
  return {};
}

void add_thread_stats(SchedGroup& g, const ThreadStats& t) {
  g.counters += t.counters;
  for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
    const aitrace_sched_metric_stats& s = t.metrics[m];
    if (s.count) {
      g.min[m] = g.count[m] ? std::min<uint64_t>(g.min[m], s.min) : s.min;
      g.max[m] = std::max<uint64_t>(g.max[m], s.max);
      g.count[m] += s.count;
      g.sum[m] += s.sum;
    }
    g.buckets[m].insert(g.buckets[m].end(), t.buckets[m].begin(), t.buckets[m].end());
  }
}

}  // namespace aitrace
