#include "aitrace/driver/driver.hpp"

#include "aitrace/core/launcher.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/driver/report_writer.hpp"
#include "aitrace/output/escape.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

// One moment's reports of every collector, as one text or one JSON document.
class Reports {
 public:
  Reports(std::vector<std::unique_ptr<Collector>>& cs, bool json) : cs_(cs), json_(json), previous_(cs.size()) {}

  Result<std::string> render(const RenderContext& ctx) {
    std::vector<std::unique_ptr<Snapshot>> now;
    for (auto& c : cs_) {
      auto s = c->read();
      if (!s) return s.error();
      now.push_back(std::move(*s));
    }
    std::string text;
    nlohmann::json doc = nlohmann::json::object();
    for (size_t i = 0; i < cs_.size(); i++) {
      std::unique_ptr<Snapshot> delta;
      if (ctx.interval) delta = cs_[i]->delta(*now[i], previous_[i].get());
      const Snapshot& shown = delta ? *delta : *now[i];
      if (json_) {
        cs_[i]->render_json(doc, shown, ctx);
        continue;
      }
      std::string part = cs_[i]->render_text(shown, ctx);
      if (part.empty()) continue;
      if (!text.empty()) text += "\n";
      text += part;
    }
    if (ctx.interval) previous_ = std::move(now);
    return json_ ? json_text(doc) + "\n" : text;
  }

 private:
  std::vector<std::unique_ptr<Collector>>& cs_;
  bool json_;
  std::vector<std::unique_ptr<Snapshot>> previous_;  // the last interval's cumulative snapshots
};

std::string readiness_line(const std::vector<std::unique_ptr<Collector>>& cs, bool launching) {
  std::vector<std::string> what;
  what.reserve(cs.size());
  for (const auto& c : cs) what.emplace_back(c->traces());
  return fmt::format("aitrace: tracing {}{}\n", fmt::join(what, ", "), launching ? "" : "; Ctrl-C to stop");
}

Status drive(const DriverRun& run, std::vector<std::unique_ptr<Collector>>& cs, int& exit_code) {
  AITRACE_TRY(prepare_tracing(run.common));
  auto run_opts = run_options(run.common);
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
  auto targets = command_targets(run.targets, std::move(*spec), run.follow);
  if (!targets) return targets.error();
  std::optional<LaunchedCommand>& cmd = targets->launched;

  HostFeatures features;
  features.preferred = *hook;
  const CollectorContext ctx{features, targets->resolved};
  for (auto& c : cs) AITRACE_TRY(c->load(ctx));
  for (auto& c : cs) AITRACE_TRY(c->attach(targets->resolved));
  // A Ctrl-C during load or attach: CMD is never released (the held child is reaped). Without
  // CMD the hooks are attached by now, so the run loop takes the signal and reports the window.
  if (cmd && stop_signal_pending())
    return make_error(ErrorKind::runtime, "interrupted before tracing started; the command was not run");

  // Tests and scripts wait for this line: every hook is attached from here on.
  std::fputs(readiness_line(cs, cmd.has_value()).c_str(), stderr);
  std::fflush(stderr);
  RunLoop loop(*run_opts);
  for (auto& c : cs) c->add_to(loop);
  if (cmd) {
    AITRACE_TRY(cmd->start());
    loop.add_stop_fd(cmd->pidfd());
  }

  Reports reports(cs, run.common.json);
  const auto started = Clock::now();
  auto last_tick = started;
  uint64_t interval_index = 0;
  auto stopped = loop.run([&](bool final) -> Status {
    const auto now = Clock::now();
    RenderContext rc;
    if (!final && run.on_interval) return run.on_interval();
    if (!final) {
      rc.interval = true;
      rc.interval_index = ++interval_index;
      rc.duration = now - last_tick;
      last_tick = now;
      auto text = reports.render(rc);
      if (!text) return text.error();
      return writer->write_interval(*text);
    }
    if (cmd) {
      // -d or a stop signal came first: CMD's group stops (a no-op when CMD already exited).
      cmd->terminate();
      exit_code = cmd->wait();
    }
    // The window ends at once for every collector, so the final numbers are of one moment.
    for (auto& c : cs) c->detach();
    for (auto& c : cs) AITRACE_TRY(c->finish());
    if (!run.final_report) return Status{};
    rc.duration = Clock::now() - started;
    auto text = reports.render(rc);
    if (!text) return text.error();
    return writer->write_final(*text);
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
