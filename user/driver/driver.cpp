#include "aitrace/driver/driver.hpp"

#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/launcher.hpp"
#include "aitrace/core/process_exits.hpp"
#include "aitrace/core/programs_in_flight.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/driver/report_envelope.hpp"
#include "aitrace/driver/report_writer.hpp"
#include "aitrace/output/clock_text.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/output/histogram_render.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

std::string comparable_path(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? fs::absolute(p).lexically_normal().string() : c.string();
}

// -o and the collectors' own files must all differ: one would silently replace the other.
Status check_distinct_outputs(const CommonOptions& common, const std::vector<std::unique_ptr<Collector>>& cs) {
  std::vector<std::pair<std::string, std::string>> seen;  // comparable path, option
  if (!common.output.empty()) seen.emplace_back(comparable_path(common.output), "-o " + common.output);
  for (const auto& c : cs)
    for (const std::string& p : c->output_paths()) {
      const std::string key = comparable_path(p);
      for (const auto& [other, what] : seen)
        if (other == key)
          return make_error(ErrorKind::usage, "{} and the {} output {} are the same file; give them different paths",
                            what, c->name(), p);
      seen.emplace_back(key, std::string(c->name()) + " output " + p);
    }
  return {};
}

// Every collector's reports at one moment, as one text or one JSON document. The driver reads the
// collectors once per moment (read()), then renders that moment as an interval (the deltas since
// the previous one) and, at the end, as the whole run.
class Reports {
 public:
  Reports(std::vector<std::unique_ptr<Collector>>& cs, bool json, ClockSample start)
      : cs_(cs), json_(json), run_start_(start), interval_start_(start) {}

  Status read() {
    now_.clear();
    for (auto& c : cs_) {
      auto s = c->read();
      if (!s) return s.error();
      now_.push_back(std::move(*s));
    }
    return {};
  }

  // The interval from the previous one's end (the first one's: attach) to `end`.
  std::string interval(uint64_t index, ClockSample end) {
    RenderContext rc = context(interval_start_, end);
    rc.interval = true;
    rc.interval_index = index;
    std::vector<std::unique_ptr<Snapshot>> deltas;
    deltas.reserve(cs_.size());
    for (size_t i = 0; i < cs_.size(); i++)
      deltas.push_back(cs_[i]->delta(*now_[i], previous_.empty() ? nullptr : previous_[i].get()));
    std::string out = render(rc, deltas);
    previous_ = now_;
    interval_start_ = end;
    return out;
  }

  // The whole run, attach to `end` (detach). targets_exited: it ended because every -p process
  // exited.
  std::string whole_run(ClockSample end, bool targets_exited) {
    RenderContext rc = context(run_start_, end);
    rc.targets_exited = targets_exited;
    return render(rc, now_);
  }

 private:
  static RenderContext context(ClockSample start, ClockSample end) {
    RenderContext rc;
    rc.start = start;
    rc.end = end;
    rc.duration = std::chrono::nanoseconds(end.boot_ns - start.boot_ns);
    return rc;
  }

  template <class Ptr>
  std::string render(const RenderContext& ctx, const std::vector<Ptr>& shown) {
    if (json_) {
      nlohmann::json doc = report_envelope(cs_, *shown.front(), ctx);
      for (size_t i = 0; i < cs_.size(); i++) cs_[i]->render_json(doc, *shown[i], ctx);
      if (ctx.targets_exited) doc["targets_exited"] = true;
      return json_text(doc) + "\n";
    }
    std::string text;
    for (size_t i = 0; i < cs_.size(); i++) {
      std::string part = cs_[i]->render_text(*shown[i], ctx);
      if (part.empty()) continue;
      if (!text.empty()) text += "\n";
      text += part;
    }
    if (ctx.targets_exited) text += "\ntracing ended: every process given with -p exited\n";
    return ctx.interval ? interval_header(ctx) + text : text;
  }

  // "--- interval 2: 11:15:40..11:15:41 (1.00s) ---"; the date in the first header and again
  // when it changes (a run across midnight).
  std::string interval_header(const RenderContext& ctx) {
    const std::string date = clock_date_text(ctx.start.unix_ns);
    const bool with_date = date != date_shown_ || clock_date_text(ctx.end.unix_ns) != date;
    date_shown_ = clock_date_text(ctx.end.unix_ns);
    return fmt::format("--- interval {}: {} ({}) ---\n", ctx.interval_index,
                       clock_span_text(ctx.start.unix_ns, ctx.end.unix_ns, with_date),
                       format_ns(static_cast<uint64_t>(ctx.duration.count())));
  }

  std::vector<std::unique_ptr<Collector>>& cs_;
  bool json_;
  ClockSample run_start_, interval_start_;
  std::vector<std::shared_ptr<Snapshot>> now_, previous_;  // this moment's and the last interval's reads
  std::string date_shown_;
};

std::string readiness_line(const std::vector<std::unique_ptr<Collector>>& cs, bool launching) {
  std::vector<std::string> what;
  what.reserve(cs.size());
  for (const auto& c : cs) what.emplace_back(c->traces());
  return fmt::format("aitrace: tracing {}{}\n", fmt::join(what, ", "), launching ? "" : "; Ctrl-C to stop");
}

// step(c) for every collector; one that fails is dropped when run.may_drop allows it (the
// message says so), else the failure ends the run. At least one collector must remain.
template <class Step>
Status each_collector(const DriverRun& run, std::vector<std::unique_ptr<Collector>>& cs, const Step& step) {
  for (auto it = cs.begin(); it != cs.end();) {
    Status st = step(**it);
    if (st) {
      ++it;
      continue;
    }
    if (!run.may_drop || !run.may_drop(**it, st.error())) return st;
    it = cs.erase(it);  // its links and maps close with it
  }
  if (cs.empty()) return make_error(ErrorKind::unsupported, "no collector could run on this host");
  return {};
}

Status drive(const DriverRun& run, std::vector<std::unique_ptr<Collector>>& cs, int& exit_code) {
  AITRACE_TRY(prepare_tracing(run.common));
  auto run_opts = run_options(run.common, run.targets.interval_count);
  if (!run_opts) return run_opts.error();
  auto hook = preferred_hook(run.common);
  if (!hook) return hook.error();
  AITRACE_TRY(check_distinct_outputs(run.common, cs));
  auto writer = ReportWriter::open(run.common.output);
  if (!writer) return writer.error();
  std::optional<TargetSpec> spec = run.spec;
  if (!spec) {
    auto s = target_spec(run.targets);
    if (!s) return s.error();
    spec = std::move(*s);
  }
  if (spec->comm && run.comm_must_exist && run.targets.command.empty() && !comm_is_running(*spec->comm))
    return make_error(ErrorKind::usage,
                      "--comm '{}' matches no running thread (the comm is the kernel's name of up to 15 "
                      "characters, as /proc/PID/comm shows)",
                      *spec->comm);
  // With the report on stdout as JSON (-i reports always go there), CMD's own stdout would
  // corrupt it: CMD writes to aitrace's stderr instead (docs/sched.md, Options, `-- CMD`).
  const bool json_on_stdout = run.common.json && (run.common.output.empty() || !run.common.interval.empty() ||
                                                  !run.targets.interval_count.empty());
  auto targets = command_targets(run.targets, std::move(*spec), run.follow, json_on_stdout);
  if (!targets) return targets.error();
  std::optional<LaunchedCommand>& cmd = targets->launched;

  HostFeatures features;
  features.preferred = *hook;
  // One window for every object of the run, held until the last attach (counting_window.hpp).
  auto window = CountingWindow::create();
  if (!window) return window.error();
  const CollectorContext ctx{features, targets->resolved, &*window};
  AITRACE_TRY(each_collector(run, cs, [&](Collector& c) { return c.load(ctx); }));
  // The reports' window opens here: nothing is counted before the first attach.
  const ClockSample attached = sample_clocks();
  AITRACE_TRY(each_collector(run, cs, [&](Collector& c) { return c.attach(targets->resolved); }));
  // Counting starts in every object at once, after the last attach: one store opens the window
  // they all share. The collectors' own start() stores repeat it.
  window->release();
  for (auto& c : cs) c->start();
  // A Ctrl-C during load or attach: CMD is never released (the held child is reaped). Without
  // CMD the hooks are attached by now, so the run loop takes the signal and reports the window.
  if (cmd && stop_signal_pending())
    return make_error(ErrorKind::runtime, "interrupted before tracing started; the command was not run");

  // Tests and scripts wait for this line: every hook is attached from here on.
  std::fputs(readiness_line(cs, cmd.has_value()).c_str(), stderr);
  std::fflush(stderr);
  RunLoop loop(*run_opts);
  for (auto& c : cs) c->add_to(loop);
  if (run.on_started) run.on_started(loop, attached);
  if (cmd) {
    AITRACE_TRY(cmd->start());
    loop.add_stop_fd(cmd->pidfd());
  }
  // -p: the run ends once every target process has exited, as `perf -p` does.
  auto exits = ProcessExits::watch(targets->spec.pids);
  if (!exits) return exits.error();
  if (!cmd && !exits->fds().empty()) loop.add_stop_set(exits->fds());

  Reports reports(cs, run.common.json, attached);
  uint64_t interval_index = 0;
  auto stopped = loop.run([&](bool final) -> Status {
    if (!final && run.on_interval) return run.on_interval();
    if (!final) {
      const ClockSample now = sample_clocks();
      AITRACE_TRY(reports.read());
      return writer->write_interval(reports.interval(++interval_index, now));
    }
    if (cmd) {
      // -d or a stop signal came first: CMD's group stops (a no-op when CMD already exited).
      cmd->terminate();
      exit_code = cmd->wait();
    }
    // The window ends at once for every collector, so the final numbers are of one moment: one
    // store, not one per collector, which a preempted driver thread made 0.1-0.4 ms apart.
    window->hold();
    for (auto& c : cs) c->stop();
    for (auto& c : cs) c->detach();
    // A program run under way at the detach still finishes its map updates: read after it has.
    wait_for_programs_in_flight();
    const ClockSample detached = sample_clocks();
    for (auto& c : cs) AITRACE_TRY(c->finish());
    if (!run.final_report) return run.on_final ? run.on_final(attached, detached) : Status{};
    AITRACE_TRY(reports.read());
    // With -i the time since the last tick is an interval of its own (`-i 1 -d 3` prints three),
    // shown before the whole run's report; it is shorter than -i when the run ends between ticks.
    // Not after the COUNT-th tick of `INTERVAL COUNT`: the run ended on that tick, nothing is left.
    if (run_opts->interval && !run.on_interval && loop.stop_reason() != StopReason::intervals)
      AITRACE_TRY(writer->write_interval(reports.interval(++interval_index, detached)));
    return writer->write_final(reports.whole_run(detached, loop.stop_reason() == StopReason::stop_set));
  });
  if (!stopped && cmd) {
    cmd->terminate();
    cmd->wait();
  }
  return stopped.status();
}

}  // namespace

int run_collectors(const DriverRun& run, std::vector<std::unique_ptr<Collector>>& collectors) {
  int exit_code = 0;
  Status st = drive(run, collectors, exit_code);
  return st ? exit_code : report_error(st.error());
}

}  // namespace aitrace
