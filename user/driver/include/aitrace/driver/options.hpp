// Options every tracing command shares, parsed and checked by the driver, and the plumbing from
// a command's Status to the exit code.
#pragma once

#include "aitrace/core/launcher.hpp"
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/core/targets.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace aitrace {

struct CommonOptions {
  std::string duration;  // "10", "10s", "500ms", "2m"; empty: until Ctrl-C (or CMD exits)
  std::string interval;  // print every interval; empty: only at the end
  bool json = false;
  std::string output;    // -o FILE (format: JSON when --json, else text)
  int verbose = 0;
  std::string hook;      // hidden --hook tp_btf|raw_tp|tracepoint: try that hook type first
  std::string bpf_token;  // --bpf-token PATH: load through a token from this bpffs (bpf_token.hpp)
};

struct TargetOptions {
  std::string pids, tids, comm, cgroup, container;
  std::vector<std::string> command;  // after --
  bool command_without_separator = false;  // the parser saw CMD words before any `--`: refused
  // Positional `INTERVAL [COUNT]` as runqlat takes them: a report every INTERVAL, COUNT times.
  std::vector<std::string> interval_count;
  std::string user;                  // --user: CMD runs as this user
  bool keep_caps = false;            // --keep-caps: CMD keeps aitrace's user and capabilities
  bool host_pids = false;            // --host-pids: show host ids in a child pid namespace
};

// For every option that takes a value: an empty one (`-p "$(pgrep train.py)"` that matched
// nothing, `-o ""`) is an error, never "option not given", which would trace the whole host
// or write to stdout instead.
const CLI::Validator& non_empty_value();

void add_common_options(CLI::App* cmd, CommonOptions& o);
// --bpf-token PATH, for every command that loads BPF (the tracing ones, serve, doctor).
void add_bpf_token_option(CLI::App* cmd, std::string& path);
void add_target_options(CLI::App* cmd, TargetOptions& o);

// "10" (seconds), "10s", "250ms", "100us", "2m", "1h"; from `min` (1ms for -d and -i) to a year.
Result<std::chrono::nanoseconds> parse_duration(const std::string& text, const char* what,
                                                std::chrono::nanoseconds min = std::chrono::milliseconds(1));
// -d and -i, and the positional INTERVAL [COUNT] (which -i and -d cannot join).
Result<RunOptions> run_options(const CommonOptions& o, const std::vector<std::string>& interval_count = {});
Result<TargetSpec> target_spec(const TargetOptions& o);

struct CommandTargets {
  TargetSpec spec;
  ResolvedTargets resolved;
  std::optional<LaunchedCommand> launched;  // `-- CMD`, forked and held before exec until attach
};
// A tracing command's targets: -p/-t/--comm/--cgroup checked against /proc and the cgroup
// mount, and `-- CMD` forked (held) and followed. Open the ReportWriter first: a bad -o must
// fail before CMD is forked.
Result<CommandTargets> command_targets(const TargetOptions& o);
// The same from a spec the command adjusted (follow: CMD's pid and children join the filter;
// cmd_stdout_to_stderr: CMD's stdout goes to aitrace's stderr, where the report owns stdout).
Result<CommandTargets> command_targets(const TargetOptions& o, TargetSpec spec, bool follow,
                                       bool cmd_stdout_to_stderr = false);

// Capability check, libbpf logging and the BPF token; every tracing command calls this before
// loading BPF.
Status prepare_tracing(const CommonOptions& o);
// --hook, checked: none when not given.
Result<std::optional<HookKind>> preferred_hook(const CommonOptions& o);

int report_error(const Error& e);  // prints "aitrace: <message>", returns the exit code

}  // namespace aitrace
