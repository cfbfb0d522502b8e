// `aitrace capture --flight-recorder WINDOW`: the collectors run until stopped; every -i the
// recorder keeps a cumulative snapshot of each, so a dump (SIGUSR1, or a --trigger that holds for
// an interval) is the difference between now and the oldest snapshot still inside the window,
// rendered as a bundle in DIR/<UTC time>/ (docs/capture.md, "Flight recorder").
//
// Memory: the ring holds at most WINDOW/-i + 1 snapshots (at most 601, capture_config), and after
// every tick the process's RSS is compared with --memory-limit: past it, the oldest snapshots go
// (the window shrinks, said on stderr and in the next dump's summary) until it fits.
#include "capture_options.hpp"

#include "aitrace/capture/bundle_dir.hpp"
#include "aitrace/capture/capture_session.hpp"
#include "aitrace/capture/capture_summary.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>

namespace aitrace {
namespace {

using nlohmann::json;

volatile sig_atomic_t g_dump_requested = 0;
void on_sigusr1(int) { g_dump_requested = 1; }

uint64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// "20261206T145900.123Z": sorts by time, no characters a shell or a ticket system minds.
std::string utc_name(int64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(unix_ns / 1000000 % 1000));
}

class FlightRecorder {
 public:
  FlightRecorder(const CaptureOptions& o, const CaptureConfig& c, CaptureSession& s, const TraceRecordWindow* trace)
      : o_(o), c_(c), s_(s), trace_(trace) {
    for (const Trigger& t : c.triggers)
      if (std::find(sources_.begin(), sources_.end(), t.source) == sources_.end()) sources_.push_back(t.source);
    if (std::find(sources_.begin(), sources_.end(), "sched") == sources_.end()) sources_.emplace_back("sched");
  }

  void started(RunLoop& loop, const ClockSample& attached) {
    start_ = attached;
    // The window's first base is the start itself (an empty Snapshots: deltas since start).
    ring_.push_back({attached, {}});
    // SIGUSR1 only sets a flag; the dump runs here, in the loop, between ring drains.
    loop.add_periodic(std::chrono::milliseconds(50), [this]() -> Status {
      if (!g_dump_requested) return {};
      g_dump_requested = 0;
      return dump({{"reason", "SIGUSR1"}}, false);
    });
  }

  Status tick() {
    const ClockSample now = sample_clocks();
    auto snaps = s_.read();
    if (!snaps) return snaps.error();
    RenderContext rc = span_context(ring_.back().at, now);
    rc.interval = true;
    rc.interval_index = ++intervals_;
    const Snapshots d = s_.delta(*snaps, ring_.back().snaps);
    const auto docs = s_.documents(d, rc, &sources_);
    if (auto it = docs.find("sched"); it != docs.end()) points_.push_back(capture_interval_point(it->second, 10));
    ring_.push_back({now, std::move(*snaps)});
    prune(now);
    for (const Trigger& t : c_.triggers) {
      std::string where;
      auto v = t.value(docs, &where);
      if (!v || !t.fires(*v)) continue;
      AITRACE_TRY(dump({{"reason", "trigger"}, {"expression", t.text}, {"value", *v}, {"where", where},
                        {"interval_index", intervals_}},
                       true));
      break;  // one dump per interval, whatever else also fired
    }
    enforce_memory();
    return {};
  }

  void finished() const {
    fmt::print(stderr, "aitrace: flight recorder: {} dumps ({} failed), {} triggers skipped (--min-gap, --max-dumps)\n",
               dumps_, failed_, skipped_);
  }

 private:
  struct Held {
    ClockSample at;
    Snapshots snaps;
  };

  // The oldest snapshot kept is the newest one at least WINDOW old: dumps cover the whole window.
  void prune(const ClockSample& now) {
    const auto window = static_cast<uint64_t>(c_.window.count());
    while (ring_.size() > 1 && now.boot_ns - ring_[1].at.boot_ns >= window) ring_.pop_front();
    while (!points_.empty() && !ring_.empty() &&
           num(points_.front(), "end_unix_ns") <= static_cast<uint64_t>(ring_.front().at.unix_ns))
      points_.pop_front();
  }

  void enforce_memory() {
    while (ring_.size() > 2 && resident_bytes() > c_.memory_limit) {
      ring_.pop_front();
      if (!points_.empty()) points_.pop_front();
      evicted_++;
      if (evicted_ == 1)
        fmt::print(stderr, "aitrace: flight recorder: RSS over --memory-limit {}; dropping the oldest snapshots (the "
                           "window shrinks)\n", o_.memory_limit);
    }
  }

  Status dump(json reason, bool from_trigger) {
    const ClockSample now = sample_clocks();
    if (dumps_ >= o_.max_dumps || (from_trigger && dumps_ && now.boot_ns - last_dump_.boot_ns < static_cast<uint64_t>(c_.min_gap.count()))) {
      skipped_++;
      return {};
    }
    auto snaps = s_.read();
    if (!snaps) return snaps.error();
    const ClockSample base_at = ring_.front().at;
    const Snapshots d = s_.delta(*snaps, ring_.front().snaps);
    CaptureSession::BundleParts parts;
    parts.kind = "flight-recorder";
    reason["window_ns"] = now.boot_ns - base_at.boot_ns;
    reason["snapshots_evicted"] = evicted_;
    parts.trigger = std::move(reason);
    parts.span = span_context(base_at, now);
    parts.documents = s_.documents(d, parts.span);
    parts.intervals.assign(points_.begin(), points_.end());
    parts.metrics_from = &*snaps;
    if (const int i = s_.index_of("offcpu"); i >= 0) parts.flame_svg = offcpu_flame_svg(*d[static_cast<size_t>(i)]);
    dumps_++;
    last_dump_ = now;
    const std::string path = o_.output + "/" + utc_name(now.unix_ns);
    // A failed dump (a full disk) is logged; recording goes on, and no partial bundle stays.
    auto dir = BundleDir::create(path, false);
    if (!dir) {
      fmt::print(stderr, "aitrace: flight recorder: dump failed: {}; recording goes on\n", dir.error().message);
      failed_++;
      return {};
    }
    if (trace_) {
      // The window's trace records, encoded now by a writer of their own: the file stands alone.
      auto t = trace_->write_perfetto(dir->staged_path(kCaptureTraceFile), base_at.boot_ns);
      if (!t) {
        fmt::print(stderr, "aitrace: flight recorder: dump to {} failed: {}; recording goes on\n", path, t.error().message);
        failed_++;
        return {};
      }
      parts.trace_staged = true;
      // Kept records cover less than the window once the byte bound evicted some (docs/capture.md).
      parts.trigger["trace"] = {{"records", t->records},
                                {"packets", t->packets},
                                {"bytes", t->bytes},
                                {"first_ts_boot_ns", t->first_ts},
                                {"last_ts_boot_ns", t->last_ts},
                                {"records_evicted_for_memory", t->evicted_for_memory},
                                {"max_bytes", trace_->max_bytes()}};
    }
    auto files = s_.write_bundle(*dir, parts);
    if (!files) {
      fmt::print(stderr, "aitrace: flight recorder: dump to {} failed: {}; recording goes on\n", path, files.error().message);
      failed_++;
      return {};
    }
    fmt::print(stderr, "aitrace: flight recorder: dumped {:.1f}s into {}/ ({})\n",
               static_cast<double>(now.boot_ns - base_at.boot_ns) / 1e9, path,
               parts.trigger.value("expression", std::string("SIGUSR1")));
    return {};
  }

  const CaptureOptions& o_;
  const CaptureConfig& c_;
  CaptureSession& s_;
  const TraceRecordWindow* trace_;  // --trace: the window's records; null without
  std::vector<std::string> sources_;  // the documents each tick renders: sched and the triggers'
  ClockSample start_{}, last_dump_{};
  std::deque<Held> ring_;
  std::deque<json> points_;
  uint64_t intervals_ = 0, evicted_ = 0, skipped_ = 0;
  uint32_t dumps_ = 0, failed_ = 0;
};

}  // namespace

int run_flight_recorder(CaptureOptions& o, const CaptureConfig& c, const CommandContext& ctx) {
  // DIR holds the dumps: created when missing, and it must be a directory this process can write.
  if (mkdir(o.output.c_str(), 0700) != 0 && errno != EEXIST)
    return report_error(make_error(ErrorKind::runtime, "-o {}: cannot create it: {}", o.output, std::strerror(errno)));
  struct stat st {};
  if (stat(o.output.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || access(o.output.c_str(), W_OK | X_OK) != 0)
    return report_error(make_error(ErrorKind::usage, "-o {}: not a writable directory", o.output));
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);

  auto env = environment_document(ctx, o.common);
  if (!env) return report_error(env.error());
  std::unique_ptr<TraceRecordWindow> trace;
  if (o.trace) trace = std::make_unique<TraceRecordWindow>(static_cast<uint64_t>(c.window.count()), c.trace_bytes);
  auto cs = capture_collectors(o, c, nullptr, trace.get());
  CaptureSession session(cs, std::move(*env), o.top);
  FlightRecorder recorder(o, c, session, trace.get());
  DriverRun run = driver_run(o, session);
  run.on_started = [&](RunLoop& loop, const ClockSample& attached) { recorder.started(loop, attached); };
  run.on_interval = [&]() { return recorder.tick(); };
  run.on_final = [&](const ClockSample&, const ClockSample&) -> Status {
    recorder.finished();
    return {};
  };
  fmt::print(stderr, "aitrace: flight recorder: keeping the last {} in memory (RSS bound {}); kill -USR1 {} dumps it "
                     "into {}/\n", o.flight_recorder, o.memory_limit, getpid(), o.output);
  return run_collectors(run, cs);
}

}  // namespace aitrace
