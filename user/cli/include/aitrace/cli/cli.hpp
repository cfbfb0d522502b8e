// Options every tracing command shares, and the plumbing from a command's Status to the exit
// code. Commands live in user/cli/<name>_command.cpp and register through commands.hpp.
#pragma once

#include "aitrace/core/launcher.hpp"
#include "aitrace/core/output_file.hpp"
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
};

struct TargetOptions {
  std::string pids, tids, comm, cgroup;
  std::vector<std::string> command;  // after --
};

void add_common_options(CLI::App* cmd, CommonOptions& o);
void add_target_options(CLI::App* cmd, TargetOptions& o);

// "10" (seconds), "10s", "250ms", "100us", "2m", "1h"; must be > 0.
Result<std::chrono::nanoseconds> parse_duration(const std::string& text, const char* what);
Result<RunOptions> run_options(const CommonOptions& o);
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
// The same from a spec the command adjusted (follow: CMD's pid and children join the filter).
Result<CommandTargets> command_targets(const TargetOptions& o, TargetSpec spec, bool follow);

// Capability check and libbpf logging; every tracing command calls this before loading BPF.
Status prepare_tracing(const CommonOptions& o);

// Where a command's report goes: stdout, or -o FILE written atomically. Opened before tracing
// starts so an unwritable path fails fast.
class ReportWriter {
 public:
  static Result<ReportWriter> open(const CommonOptions& o);
  // Interval reports go to stdout (JSON: one document per line); -o FILE gets the final one.
  Status write_interval(const std::string& text);
  Status write_final(const std::string& text);

 private:
  std::optional<OutputFile> file_;
};

// Set by a command's callback; main() returns it.
struct CommandOutcome {
  int exit_code = 0;
};
int report_error(const Error& e);  // prints "aitrace: <message>", returns the exit code

}  // namespace aitrace
