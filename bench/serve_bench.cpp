// Cost of `aitrace serve`'s refresh, per exported series count: the sched collector's deltas into
// the metric store (SchedMetrics::add) and the rendering of one exposition (MetricStore::render).
// A scrape itself only copies the rendered string the last refresh published.
//
// Each group has all five histograms and five counters: 10 series per group, so 10 groups give
// 100 series and 500 groups 5000. Allocations are counted by replacing operator new.
#include "aitrace/output/metric_store.hpp"
#include "aitrace/sched/sched_metrics.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace aitrace {
namespace {

// A cumulative snapshot of `groups` busy groups; `round` grows every count, as time does.
SchedSnapshot snapshot(int groups, uint64_t round) {
  SchedSnapshot s;
  for (int i = 0; i < groups; i++) {
    SchedGroup g;
    g.slot = static_cast<uint32_t>(i + 1);
    g.id = 1000 + static_cast<uint64_t>(i);
    g.pid = g.tid = static_cast<uint32_t>(1000 + i);
    g.comm = "worker-" + std::to_string(i);
    g.counters = {round * 10, round * 3, round, round, round};
    for (int m = 0; m < AITRACE_SCHED_METRICS; m++) {
      // Samples in 12 log-linear buckets, one per power of two from 8.2 us to 16.8 ms.
      for (uint32_t b = 0; b < 12; b++) g.buckets[m].emplace_back(160 + b * 16, round * (b + 1));
      for (auto [b, n] : g.buckets[m]) {
        g.count[m] += n;
        g.sum[m] += n * aitrace_hist_bucket_low(b);
      }
    }
    s.groups.push_back(std::move(g));
  }
  return s;
}

void BM_RefreshAdd(benchmark::State& state) {
  const int groups = static_cast<int>(state.range(0)) / 10;
  MetricStore store({.max_groups = 100000});
  SchedMetrics sm(SchedGroupBy::process);
  uint64_t round = 1;
  sm.add(snapshot(groups, round++), store);
  std::vector<SchedSnapshot> snaps;
  snaps.reserve(64);
  for (int i = 0; i < 64; i++) snaps.push_back(snapshot(groups, round++));
  size_t next = 0;
  uint64_t allocs = 0;
  for (auto _ : state) {
    state.PauseTiming();
    // A later snapshot each time (counts only grow), made outside the timed part.
    if (next == snaps.size()) {
      for (auto& s : snaps) s = snapshot(groups, round++);
      next = 0;
    }
    const SchedSnapshot& s = snaps[next++];
    state.ResumeTiming();
    const uint64_t a0 = g_allocations.load();
    sm.add(s, store);
    allocs += g_allocations.load() - a0;
  }
  state.counters["series"] = static_cast<double>(store.series());
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
}

void BM_Render(benchmark::State& state, MetricFormat f) {
  const int groups = static_cast<int>(state.range(0)) / 10;
  MetricStore store({.max_groups = 100000});
  SchedMetrics sm(SchedGroupBy::process);
  sm.add(snapshot(groups, 1), store);
  sm.add(snapshot(groups, 2), store);
  uint64_t allocs = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    const uint64_t a0 = g_allocations.load();
    std::string out;
    store.render(f, out);
    allocs += g_allocations.load() - a0;
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["series"] = static_cast<double>(store.series());
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
}

BENCHMARK(BM_RefreshAdd)->Arg(100)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Render, prometheus, MetricFormat::prometheus)->Arg(100)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Render, openmetrics, MetricFormat::openmetrics)->Arg(100)->Arg(5000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace aitrace

BENCHMARK_MAIN();
