#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/caps.hpp"
#include "aitrace/driver/options.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/kernel_btf_facts.hpp"
#include "aitrace/core/kernel_floor.hpp"
#include "aitrace/core/log.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace aitrace {

const CLI::Validator& non_empty_value() {
  static const CLI::Validator v(
      [](const std::string& s) { return s.empty() ? std::string("the value is empty") : std::string(); }, "", "");
  return v;
}

void add_common_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("-d,--duration", o.duration, "How long to trace (10, 10s, 500ms, 2m); default: until Ctrl-C")
      ->check(non_empty_value());
  cmd->add_option("-i,--interval", o.interval, "Print a report every interval (e.g. 1s)")->check(non_empty_value());
  cmd->add_flag("--json", o.json, "JSON output (one document; JSON lines with -i)");
  cmd->add_option("-o,--output", o.output, "Write the final report to FILE (atomically) instead of stdout")
      ->check(non_empty_value());
  cmd->add_flag("-v,--verbose", o.verbose, "Show libbpf and hook-selection messages");
  // Hidden: tests and debugging force a fallback hook type where the collector offers it.
  cmd->add_option("--hook", o.hook, "Try this hook type first (tp_btf, raw_tp, tracepoint)")->group("");
  add_bpf_token_option(cmd, o.bpf_token);
}

void add_bpf_token_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--bpf-token", path,
                  "Load BPF through a token from the bpffs at PATH, delegated by the host to this user namespace "
                  "(Linux 6.9+; default: $LIBBPF_BPF_TOKEN_PATH, see docs/containers.md)")
      ->type_name("PATH")
      ->check(non_empty_value());
}

namespace {

// --user and --keep-caps: who `-- CMD` runs as (command_credentials.hpp).
void add_command_privilege_options(CLI::App* cmd, TargetOptions& o) {
  cmd->add_option("--user", o.user,
                  "Run CMD as this user (name or uid); default: the sudo caller under sudo, else aitrace's user, "
                  "always without capabilities")
      ->check(non_empty_value());
  cmd->add_flag("--keep-caps", o.keep_caps, "CMD keeps aitrace's user and capabilities (default: it starts with none)");
}

}  // namespace

void add_target_options(CLI::App* cmd, TargetOptions& o) {
  cmd->add_option("-p,--pid", o.pids, "Trace these processes (PID[,PID...]), their later threads included")
      ->check(non_empty_value());
  cmd->add_option("-t,--tid", o.tids, "Trace these threads (TID[,TID...])")->check(non_empty_value());
  cmd->add_option("--comm", o.comm, "Trace tasks with this comm (exact, up to 15 characters)")->check(non_empty_value());
  cmd->add_option("--cgroup", o.cgroup, "Trace tasks in this cgroup v2 (path, or self) and its descendants")
      ->check(non_empty_value());
  cmd->add_option("--container", o.container,
                  "Trace this container (a unique prefix of its id: docker, podman, containerd, cri-o)")
      ->check(non_empty_value());
  cmd->add_flag("--host-pids", o.host_pids,
                "In a child pid namespace, show host pids and trace the host's tasks too (pids given are still "
                "this namespace's)");
  // CLI11 offers each positional word to `command` first, then to `interval`. A number before
  // any CMD word and before `--` is refused by `command`, so it lands in INTERVAL [COUNT]; after
  // `--` (CLI11 keeps it in remaining()) every word is CMD's, numbers included.
  cmd->validate_positionals();
  CLI::Option* command = cmd->add_option("command", o.command, "-- CMD ARGS...: run CMD and trace it and everything it starts");
  command->check(CLI::Validator(
      [cmd, command, &o](const std::string& word) {
        bool separator = false;
        for (const std::string& r : cmd->remaining()) separator |= r == "--";
        if (separator) return std::string();
        const bool number = !word.empty() && (std::isdigit(static_cast<unsigned char>(word[0])) || word[0] == '.');
        if (command->count() == 0 && number) return std::string("an interval");
        o.command_without_separator = true;
        return std::string();
      },
      "", ""));
  cmd->add_option("interval", o.interval_count,
                  "INTERVAL [COUNT] (as runqlat): a report every INTERVAL seconds, COUNT times, then the summary")
      ->expected(0, 2);
  add_command_privilege_options(cmd, o);
}

namespace {
// A whole duration in the largest unit that divides it: "1ms", "1us".
std::string duration_text(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}
}  // namespace

Result<std::chrono::nanoseconds> parse_duration(const std::string& text, const char* what,
                                                std::chrono::nanoseconds min) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || !(v > 0))
    return make_error(ErrorKind::usage, "invalid {} '{}': expected a positive duration like 10s, 500ms or 2m", what, text);
  std::string unit(p, text.data() + text.size());
  double scale = unit.empty() || unit == "s" ? 1e9
                 : unit == "ms"           ? 1e6
                 : unit == "us"           ? 1e3
                 : unit == "ns"           ? 1
                 : unit == "m"            ? 60e9
                 : unit == "h"            ? 3600e9
                                          : -1;
  if (scale < 0)
    return make_error(ErrorKind::usage, "invalid {} '{}': unknown unit '{}' (use ns, us, ms, s, m or h)", what, text, unit);
  double ns = v * scale;
  if (ns < static_cast<double>(min.count()) || ns > 1e9 * 86400 * 365)
    return make_error(ErrorKind::usage, "invalid {} '{}': must be between {} and a year", what, text,
                      duration_text(min));
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

Result<RunOptions> run_options(const CommonOptions& o, const std::vector<std::string>& interval_count) {
  RunOptions r;
  if (!interval_count.empty()) {
    if (!o.interval.empty() || !o.duration.empty())
      return make_error(ErrorKind::usage, "the positional INTERVAL [COUNT] and -i/-d cannot be combined; give one");
    auto i = parse_duration(interval_count[0], "interval");
    if (!i) return i.error();
    r.interval = *i;
    if (interval_count.size() > 1) {
      const std::string& c = interval_count[1];
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), n);
      if (ec != std::errc() || p != c.data() + c.size() || n == 0)
        return make_error(ErrorKind::usage, "invalid count '{}': expected a positive whole number of intervals", c);
      r.count = n;
    }
    return r;
  }
  if (!o.duration.empty()) {
    auto d = parse_duration(o.duration, "duration");
    if (!d) return d.error();
    r.duration = *d;
  }
  if (!o.interval.empty()) {
    auto i = parse_duration(o.interval, "interval");
    if (!i) return i.error();
    r.interval = *i;
  }
  return r;
}

Result<TargetSpec> target_spec(const TargetOptions& o) {
  TargetSpec s;
  if (!o.pids.empty()) {
    auto ids = parse_id_list(o.pids, "pid");
    if (!ids) return ids.error();
    s.pids = *ids;
  }
  if (!o.tids.empty()) {
    auto ids = parse_id_list(o.tids, "tid");
    if (!ids) return ids.error();
    s.tids = *ids;
  }
  // The kernel filter ANDs its checks; -p A -t B with B outside A would silently trace nothing.
  if (!s.pids.empty() && !s.tids.empty())
    return make_error(ErrorKind::usage, "-p and -t cannot be combined: give the threads with -t only");
  if (!o.command.empty() && o.command_without_separator)
    return make_error(ErrorKind::usage,
                      "'{}' is not an interval; to run a command, put -- before it: aitrace <command> [options] -- {}",
                      o.command[0], fmt::format("{}", fmt::join(o.command, " ")));
  if (!o.comm.empty()) s.comm = o.comm;
  if (!o.cgroup.empty()) s.cgroup = o.cgroup;
  if (!o.container.empty()) s.container = o.container;
  s.follow_forks = !o.command.empty();
  s.host_pids = o.host_pids;
  return s;
}

Result<CommandTargets> command_targets(const TargetOptions& o, TargetSpec spec, bool follow,
                                       bool cmd_stdout_to_stderr) {
  auto resolved = resolve_targets(spec);
  if (!resolved) return resolved.error();
  CommandCredentials creds;
  if (!o.command.empty()) {
    auto c = command_credentials(o.user, o.keep_caps, std::getenv("SUDO_UID"), std::getenv("SUDO_GID"));
    if (!c) return c.error();
    creds = std::move(*c);
  } else if (!o.user.empty() || o.keep_caps) {
    return make_error(ErrorKind::usage, "{} applies to -- CMD only", o.keep_caps ? "--keep-caps" : "--user");
  }
  auto launch = launch_traced_command(o.command, creds, *resolved, follow, cmd_stdout_to_stderr);
  if (!launch) return launch.error();
  return CommandTargets{std::move(spec), std::move(*resolved), std::move(*launch)};
}

Result<CommandTargets> command_targets(const TargetOptions& o) {
  auto spec = target_spec(o);
  if (!spec) return spec.error();
  return command_targets(o, std::move(*spec), /*follow=*/true);
}

Status prepare_tracing(const CommonOptions& o) {
  set_log_level(o.verbose ? LogLevel::debug : LogLevel::warn);
  route_libbpf_log();
  auto caps = read_own_capabilities();
  if (!caps) return caps.error();
  AITRACE_TRY(check_tracing_capabilities(*caps));
  AITRACE_TRY(use_bpf_token(o.bpf_token));  // before the first bpf() call, the floor's probe
  if (!kernel_btf_facts()) return make_error(ErrorKind::unsupported, "{}", kernel_btf_facts_error());
  return check_kernel_floor();
}

Result<std::optional<HookKind>> preferred_hook(const CommonOptions& o) {
  if (o.hook.empty()) return std::optional<HookKind>();
  auto k = parse_hook_kind(o.hook);
  if (!k || (*k != HookKind::tp_btf && *k != HookKind::raw_tp && *k != HookKind::tracepoint))
    return make_error(ErrorKind::usage, "invalid --hook '{}': expected tp_btf, raw_tp or tracepoint", o.hook);
  return k;
}

int report_error(const Error& e) {
  std::fprintf(stderr, "aitrace: %s\n", e.message.c_str());
  return static_cast<int>(e.kind);
}

}  // namespace aitrace
