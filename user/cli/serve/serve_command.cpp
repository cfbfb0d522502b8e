// `aitrace serve`: the driver with an HTTP front. The collectors run continuously in the
// driver's one run loop; every --interval the loop reads them, adds their deltas to the metric
// store and publishes a rendered exposition, which scrapes of /metrics return.
#include "commands.hpp"
#include "http_exporter.hpp"

#include "aitrace/driver/driver.hpp"
#include "aitrace/output/metric_store.hpp"
#include "aitrace/dma/dma_tracer.hpp"
#include "aitrace/migrate/migrate_tracer.hpp"
#include "aitrace/sched/sched_tracer.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>

namespace aitrace {
namespace {

struct ServeOptions {
  CommonOptions common;
  TargetOptions targets;
  std::string listen = "127.0.0.1:9477";
  std::string by = "comm";
  uint32_t max_groups = 1000;
  std::string buckets;
  std::string retire_after = "5m";
};

// The store, refreshed by the run loop every --interval (read + deltas: what `aitrace sched -i`
// does per interval) and rendered only when scraped: the first scrape of a format after a
// refresh renders it under the lock, later ones reuse that string until the next refresh. The
// lock is held for one read+add or one render, never while a client is sent data.
class Publisher {
 public:
  Publisher(std::vector<std::unique_ptr<Collector>>& cs, MetricStore::Options opts)
      : cs_(cs), store_(std::move(opts)) {
    read_seconds_ = store_.gauge("aitrace_serve_read_duration_seconds",
                                 "Time the last refresh took to read the collectors and add their deltas");
    refreshes_ = store_.counter("aitrace_serve_refreshes", "Refreshes of the metrics (one per --interval)");
  }

  Status refresh() {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<Snapshot>> snaps;
    for (auto& c : cs_) {  // the map reads happen outside the lock
      auto snap = c->read();
      if (!snap) return snap.error();
      snaps.push_back(std::move(*snap));
    }
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < cs_.size(); i++) cs_[i]->add_metrics(*snaps[i], store_);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    store_.set(read_seconds_, {}, took.count());
    store_.add(refreshes_, {}, 1);
    generation_++;
    return {};
  }

  std::shared_ptr<const std::string> exposition(MetricFormat f) {
    std::lock_guard lock(mutex_);
    if (!generation_) return nullptr;
    Rendered& r = rendered_[f == MetricFormat::openmetrics ? 1 : 0];
    if (r.generation != generation_) {
      auto text = std::make_shared<std::string>();
      text->reserve(r.text ? r.text->size() + 4096 : 1 << 16);
      store_.render(f, *text);
      r = {generation_, std::move(text)};
    }
    return r.text;
  }

 private:
  std::vector<std::unique_ptr<Collector>>& cs_;
  std::mutex mutex_;
  MetricStore store_;
  uint64_t generation_ = 0;  // refreshes so far
  struct Rendered {
    uint64_t generation = 0;
    std::shared_ptr<const std::string> text;
  };
  std::array<Rendered, 2> rendered_;
  int read_seconds_ = -1, refreshes_ = -1;
};

int run_serve(ServeOptions& o) {
  auto group_by = parse_sched_group_by(o.by);
  if (!group_by || *group_by == SchedGroupBy::thread)
    return report_error(make_error(ErrorKind::usage, "invalid --by '{}': expected process, comm, cgroup, container, pod or none", o.by));
  if (o.max_groups == 0 || o.max_groups > kSchedMaxGroupsLimit)
    return report_error(make_error(ErrorKind::usage, "--max-groups must be 1 to {}", kSchedMaxGroupsLimit));
  MetricStore::Options mopts;
  mopts.max_groups = o.max_groups;
  if (!o.buckets.empty()) {
    auto b = HistogramBounds::parse(o.buckets);
    if (!b) return report_error(b.error());
    mopts.bounds = std::move(*b);
  }
  if (o.common.interval.empty()) o.common.interval = "1s";
  auto interval = parse_duration(o.common.interval, "--interval");
  if (!interval) return report_error(interval.error());
  auto retire = parse_duration(o.retire_after, "--retire-after");
  if (!retire) return report_error(retire.error());
  // In refreshes, at least two: the group's last delta is published for one refresh at least,
  // so a scrape can see its final values before its series end.
  const auto retire_refreshes = static_cast<uint32_t>(std::clamp<int64_t>(
      (retire->count() + interval->count() - 1) / std::max<int64_t>(interval->count(), 1), 2, int64_t{1} << 30));
  auto addr = parse_listen_address(o.listen);
  if (!addr) return report_error(addr.error());
  // Bound before tracing starts: a port in use fails in milliseconds, with nothing loaded.
  std::vector<std::unique_ptr<Collector>> cs;
  Publisher publisher(cs, std::move(mopts));
  auto http = HttpExporter::bind(*addr, [&publisher](MetricFormat f) { return publisher.exposition(f); });
  if (!http) return report_error(http.error());

  SchedTracerConfig cfg;
  cfg.sched.group_by = *group_by;
  cfg.metrics_retire_after = retire_refreshes;
  // The kernel's group map stays larger than the export cap: groups past the cap still count
  // in `other` exactly, and the kernel's own overflow stays rare.
  cfg.sched.max_groups = std::max<uint32_t>(AITRACE_SCHED_DEFAULT_MAX_GROUPS, o.max_groups);
  cs.push_back(make_sched_tracer(cfg));
  cs.push_back(make_migrate_tracer({MigrateGroupBy::reason}));
  // DMA traffic is per device for the whole host; targets filter only its dma-fence waits.
  cs.push_back(make_dma_tracer({}));
  (*http)->start();
  DriverRun run{o.common, o.targets};
  run.final_report = false;
  run.comm_must_exist = false;  // an exporter waits for the job it is pointed at
  bool first = true;
  run.on_interval = [&]() -> Status {
    AITRACE_TRY(publisher.refresh());
    if (first) {
      (*http)->set_ready();
      std::fprintf(stderr, "aitrace: serving metrics on http://%s/metrics\n", addr->text.c_str());
      first = false;
    }
    return Status{};
  };
  const int rc = run_collectors(run, cs);
  (*http)->stop();
  return rc;
}

}  // namespace

void register_serve_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Export scheduler histograms over HTTP for Prometheus (OpenMetrics)");
  cmd->add_option("--listen", opts->listen, "ADDR:PORT to serve /metrics and /healthz on (default 127.0.0.1:9477)");
  cmd->add_option("--by", opts->by, "Group by comm (default), process, cgroup, container, pod or none");
  cmd->add_option("--max-groups", opts->max_groups,
                  "Groups exported before new ones fold into other (default 1000)");
  cmd->add_option("--retire-after", opts->retire_after,
                  "With --by process: end an exited process's series this long after it exited, freeing its "
                  "place under --max-groups (default 5m)");
  cmd->add_option("--buckets", opts->buckets,
                  "Histogram le bounds in seconds, comma-separated (default: powers of two, 1.024us to 17.2s)");
  cmd->add_option("-i,--interval", opts->common.interval, "Refresh the metrics every interval (default 1s)");
  cmd->add_option("-d,--duration", opts->common.duration, "Stop after this long (default: until SIGTERM)");
  cmd->add_flag("-v,--verbose", opts->common.verbose, "Show libbpf and hook-selection messages");
  cmd->add_option("--hook", opts->common.hook, "Try this hook type first (tp_btf, raw_tp, tracepoint)")->group("");
  add_bpf_token_option(cmd, opts->common.bpf_token);
  add_target_options(cmd, opts->targets);
  cmd->callback([opts, &exit_code] { exit_code = run_serve(*opts); });
}

}  // namespace aitrace
