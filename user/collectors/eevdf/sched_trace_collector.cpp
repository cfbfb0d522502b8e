// Loads bpf/sched_trace.bpf.c, wires its per-CPU rings into the run loop, and feeds the decoder.
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/filter_hooks.hpp"
#include "aitrace/core/filter_sweep.hpp"
#include "aitrace/output/histogram_render.hpp"
#include "aitrace/core/log.hpp"
#include "aitrace/core/percpu_map.hpp"
#include "aitrace/eevdf/trace_record_window.hpp"
#include "aitrace/output/perfetto_writer.hpp"
#include "aitrace/core/ring_reader.hpp"
#include "aitrace/eevdf/sched_trace.hpp"
#include "sched_trace.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <fmt/format.h>
#include <algorithm>

namespace aitrace {
namespace {

using SchedTraceSkeleton = AITRACE_SKELETON_TYPE(sched_trace);

// All shards together stay within this much kernel memory unless the user asks for more. A
// small host gets its share of it: a burst of 3000 new threads, each sleeping 20 times, sends
// about 550k records (the thread_burst e2e test), which 4 MiB rings on 2 CPUs did not hold while
// the consumer shared the CPUs with the burst.
constexpr uint64_t kRingBudget = 64ull << 20;
constexpr uint32_t kMinRing = 256u << 10;
constexpr uint32_t kMaxRing = 16u << 20;
constexpr std::chrono::seconds kFlushEvery{1};
constexpr std::chrono::seconds kSweepEvery{5};  // gone threads after lost records (fold_gone_after_losses)

bool power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

using TraceProgs = decltype(sched_trace_bpf::progs);

// The hook table: open() and eevdf_tracepoints() (doctor's catalog) both read it.
struct TraceEvent {
  const char* name;
  bpf_program* TraceProgs::*btf_prog;
  bpf_program* TraceProgs::*raw_prog;
};
constexpr TraceEvent kTraceEvents[] = {
    {"sched_switch", &TraceProgs::st_switch_btf, &TraceProgs::st_switch_raw},
    {"sched_waking", &TraceProgs::st_waking_btf, &TraceProgs::st_waking_raw},
    {"sched_wakeup", &TraceProgs::st_wakeup_btf, &TraceProgs::st_wakeup_raw},
    {"sched_wakeup_new", &TraceProgs::st_wakeup_new_btf, &TraceProgs::st_wakeup_new_raw},
};

}  // namespace

uint32_t default_trace_ring_bytes(int ncpus) {
  uint32_t ring = kMaxRing;
  while (ring > kMinRing && static_cast<uint64_t>(ring) * static_cast<uint64_t>(std::max(ncpus, 1)) > kRingBudget)
    ring /= 2;
  return ring;
}

CollectorTracepoints eevdf_tracepoints() {
  CollectorTracepoints c{"sched_trace", {}, {}};
  for (const TraceEvent& e : kTraceEvents) c.events.push_back({"sched", {e.name}});
  for (const TracepointSpec& f : filter_tracepoints()) c.events.push_back(f);
  return c;
}

struct SchedTraceCollector::Impl {
  SchedTraceSkeleton skel;
  HookSet hooks;
  int ncpus = 0;
  uint32_t ring_bytes = 0;
  std::vector<int> ring_fds;
  EevdfSummary summary;
  std::unique_ptr<PerfettoWriter> trace;
  std::unique_ptr<SchedTraceDecoder> decoder;
  TraceRecordWindow* window = nullptr;
  std::unique_ptr<RingReader> reader;  // after ring_fds: destroyed (unmapped) before they close
  std::string no_trace;
  ResolvedTargets targets;  // the filter maps get them at attach
  // Why the trace file stopped early (a write error); empty while it is written. The trace is
  // a secondary output: its failure stops only it, the summary and the run go on.
  std::string trace_stopped;
  uint64_t losses_swept = 0;  // the lost records when the summary last looked for gone threads

  ~Impl() {
    reader.reset();
    for (int fd : ring_fds) close(fd);
  }

  // The ring consumer: decoding only. Durable flushes run from the loop (add_to).
  void on_record(std::span<const std::byte> rec) {
    decoder->on_record(rec);
    if (window) window->add(rec);
  }

  // A thread whose last switch-out record was lost stays in the summary (up to ~11 KB) until its tid
  // is reused, which with a large pid_max is never. After new losses, the threads that no
  // longer exist are folded. The ids must be this namespace's for kill(): not with --host-pids.
  void fold_gone_after_losses(const SchedTraceStats& st) {
    const uint64_t losses = st.lost + st.no_ring + st.missed;
    if (losses <= losses_swept || targets.cfg.host_pids) return;
    losses_swept = losses;
    summary.fold_gone([](uint32_t tid) { return kill(static_cast<pid_t>(tid), 0) == 0 || errno != ESRCH; });
  }

  // The trace's I/O results end here, never in the run loop: one warning at the first failure.
  void trace_result(const Status& st) {
    if (st.ok() || !trace_stopped.empty()) return;
    trace_stopped = st.error().message;
    warn("EEVDF trace stopped: {}; the {} packets written before stay in the file, the run goes on",
         trace_stopped, trace->packets_written());
  }
  void flush_trace() {
    if (trace && trace_stopped.empty()) trace_result(trace->flush(true));
  }
};

SchedTraceCollector::SchedTraceCollector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchedTraceCollector::~SchedTraceCollector() = default;

Result<std::unique_ptr<SchedTraceCollector>> SchedTraceCollector::open(const ResolvedTargets& targets,
                                                                       const SchedTraceOptions& opts,
                                                                       const KernelFeatures& features,
                                                                       const CountingWindow* window) {
  auto impl = std::make_unique<Impl>();
  long page = sysconf(_SC_PAGESIZE);
  impl->ncpus = libbpf_num_possible_cpus();
  if (impl->ncpus <= 0) return make_error(ErrorKind::runtime, "cannot count the possible CPUs");
  // An explicit size wins; the default is the CPUs' share of the budget.
  impl->ring_bytes = opts.ring_bytes ? opts.ring_bytes : default_trace_ring_bytes(impl->ncpus);
  if (!power_of_two(impl->ring_bytes) || impl->ring_bytes < static_cast<uint64_t>(page))
    return make_error(ErrorKind::usage, "trace buffer size {} is not a power of two of at least {} bytes",
                      impl->ring_bytes, page);

  auto skel = SchedTraceSkeleton::open("sched_trace");
  if (!skel) return skel.error();
  impl->skel = std::move(skel.value());
  auto* s = impl->skel.get();
  set_filter_config(s, targets);
  hold_counting(s, true);  // until start(); an object given the run's window has that one's state
  s->rodata->switch_has_prev_state = sched_switch_has_prev_state();
  s->rodata->wake_threshold = opts.wakeup_bytes ? opts.wakeup_bytes : impl->ring_bytes / 4;
  // The trace file's CPU view needs every switch; the summary alone needs only the targets'.
  s->rodata->all_switches = !opts.trace_path.empty() || opts.window;
  bpf_map__set_max_entries(s->maps.st_rings, static_cast<uint32_t>(impl->ncpus));
  bpf_map__set_max_entries(s->maps.st_last_wakeup, static_cast<uint32_t>(impl->ncpus));

  auto& h = impl->hooks;
  for (const TraceEvent& e : kTraceEvents)
    h.add(features, "sched", e.name, {{HookKind::tp_btf, s->progs.*e.btf_prog}, {HookKind::raw_tp, s->progs.*e.raw_prog}});
  add_filter_hooks(h, features, targets,
                   AITRACE_FILTER_PROGRAMS_OF(s, st));
  AITRACE_TRY(impl->skel.load("sched_trace", window));
  impl->targets = targets;

  // Created here, outside the object: they need the run's BPF token as the object's maps do.
  const bpf_map_create_opts ring_opts = map_create_opts_with_token();
  for (int cpu = 0; cpu < impl->ncpus; cpu++) {
    errno = 0;
    int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "aitrace_st_ring", 0, 0, impl->ring_bytes, &ring_opts);
    if (fd < 0)
      return make_error(ErrorKind::runtime, "creating the trace ring for CPU {}: {}", cpu, bpf_error_text(-errno));
    impl->ring_fds.push_back(fd);
    uint32_t key = static_cast<uint32_t>(cpu);
    int err = bpf_map_update_elem(bpf_map__fd(s->maps.st_rings), &key, &fd, BPF_ANY);
    if (err)
      return make_error(ErrorKind::runtime, "installing the trace ring for CPU {}: {}", cpu, bpf_error_text(-errno));
  }

  if (!opts.trace_path.empty()) {
    auto w = PerfettoWriter::create(opts.trace_path);
    if (!w) return w.error();
    impl->trace = std::move(w.value());
    impl->trace->system_info();
  }
  impl->decoder = std::make_unique<SchedTraceDecoder>(&impl->summary, impl->trace.get());
  impl->window = opts.window;
  Impl* raw = impl.get();
  impl->reader = std::make_unique<RingReader>([raw](std::span<const std::byte> rec) { raw->on_record(rec); });
  for (int fd : impl->ring_fds) AITRACE_TRY(impl->reader->add(fd));
  return std::unique_ptr<SchedTraceCollector>(new SchedTraceCollector(std::move(impl)));
}

Status SchedTraceCollector::attach() {
  auto* s = impl_->skel.get();
  AITRACE_TRY(fill_filter_maps(s->maps.filter_tgids, s->maps.filter_tids, impl_->targets));
  impl_->hooks.attach_all();
  if (!impl_->hooks.attached("sched:sched_switch")) {
    const HookStatus* st = impl_->hooks.status("sched:sched_switch");
    return make_error(ErrorKind::unsupported, "EEVDF trace: sched_switch {}", st ? st->state_text() : "not attached");
  }
  for (const auto& st : impl_->hooks.statuses())
    if (st.state != HookStatus::State::attached) warn("EEVDF trace: {} {}", st.event, st.state_text());
  return {};
}

void SchedTraceCollector::add_to(RunLoop& loop) {
  loop.add_ring(impl_->reader.get());
  add_filter_sweep(loop, impl_->skel.get(), "EEVDF trace");
  // Once a second the trace so far reaches the disk, so a crash leaves a readable prefix; an
  // fdatasync inside the ring consumer would stall every ring for as long as the disk takes.
  // Every 5 s, not at each snapshot read: stats() asks the kernel per CPU and per program, and a
  // lost exit costs only memory until then.
  loop.add_periodic(kSweepEvery, [this] {
    impl_->fold_gone_after_losses(stats());
    return Status{};
  });
  if (impl_->trace)
    loop.add_periodic(kFlushEvery, [impl = impl_.get()] {
      impl->flush_trace();
      return Status{};
    });
}

Status SchedTraceCollector::drain() { return impl_->reader->drain().status(); }

void SchedTraceCollector::start() { hold_counting(impl_->skel.get(), false); }
void SchedTraceCollector::stop() { hold_counting(impl_->skel.get(), true); }
void SchedTraceCollector::detach() { impl_->hooks.detach_all(); }

Status SchedTraceCollector::finish() {
  // Links first: nothing new arrives while the last records are drained.
  impl_->hooks.detach_all();
  AITRACE_TRY(impl_->reader->drain_all().status());
  if (impl_->trace) impl_->trace_result(impl_->trace->finish());
  return {};
}

const HookSet& SchedTraceCollector::hooks() const { return impl_->hooks; }
const EevdfSummary& SchedTraceCollector::summary() const { return impl_->summary; }
const std::string& SchedTraceCollector::trace_path() const {
  return impl_->trace ? impl_->trace->path() : impl_->no_trace;
}

SchedTraceStats SchedTraceCollector::stats() const {
  SchedTraceStats st;
  std::vector<aitrace_st_stats> per_cpu;
  const uint32_t zero = 0;
  if (Status r = read_percpu(bpf_map__fd(impl_->skel->maps.st_stats), &zero, per_cpu, "the trace's per-CPU counters");
      !r.ok()) {
    warn("sched-trace: {}: its emitted and lost counts are shown as 0", r.error().message);
  } else {
    for (const auto& c : per_cpu) {
      st.lost_per_cpu.push_back(c.lost);
      st.emitted += c.emitted;
      st.lost += c.lost;
      st.no_ring += c.no_ring;
      st.wakeups_sent += c.wakeups_sent;
    }
  }
  bpf_program* prog;
  bpf_object__for_each_program(prog, impl_->skel->obj) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    st.missed += info.recursion_misses;
    if (info.run_cnt) st.programs.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns});
  }
  st.decoded = impl_->decoder->switches() + impl_->decoder->wakings() + impl_->decoder->wakeups();
  st.malformed = impl_->decoder->malformed();
  if (impl_->trace) {
    st.trace_packets = impl_->trace->packets_written();
    st.trace_bytes = impl_->trace->bytes_written();
    st.trace_stopped = impl_->trace_stopped;
    st.trace_events_not_written = impl_->trace->events_not_written();
  }
  return st;
}

nlohmann::json SchedTraceStats::json() const {
  nlohmann::json j = {{"records", emitted},
                      {"lost", lost + no_ring + missed},
                      {"missed", missed},
                      {"lost_per_cpu", lost_per_cpu},
                      {"decoded", decoded},
                      {"malformed", malformed},
                      {"consumer_wakeups", wakeups_sent},
                      {"trace_packets", trace_packets},
                      {"trace_bytes", trace_bytes}};
  if (!trace_stopped.empty()) {
    j["stopped"] = trace_stopped;
    j["events_not_written"] = trace_events_not_written;
  }
  if (!programs.empty()) {
    nlohmann::json progs = nlohmann::json::array();
    for (const auto& p : programs)
      progs.push_back({{"program", p.name}, {"runs", p.runs}, {"run_ns", p.run_ns}, {"ns_per_run", p.run_ns / p.runs}});
    j["bpf_stats"] = std::move(progs);
  }
  return j;
}

std::string SchedTraceStats::text() const {
  std::string out = fmt::format("EEVDF trace: {} records, {} lost", emitted, lost + no_ring + missed);
  if (missed) out += fmt::format(" ({} events missed: program already running on the CPU)", missed);
  if (lost) {
    out += " (per CPU:";
    for (size_t i = 0; i < lost_per_cpu.size(); i++)
      if (lost_per_cpu[i]) out += fmt::format(" cpu{}={}", i, lost_per_cpu[i]);
    out += "; ring buffer full)";
  }
  if (trace_packets) out += fmt::format(", {} packets / {} bytes written", trace_packets, trace_bytes);
  if (!trace_stopped.empty())
    out += fmt::format("; trace stopped early: {} ({} events not written)", trace_stopped, trace_events_not_written);
  out += "\n";
  for (const auto& p : programs)
    out += fmt::format("  {}: {} runs, {} ns per run\n", p.name, p.runs, p.run_ns / p.runs);
  return out;
}

}  // namespace aitrace
