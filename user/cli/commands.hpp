// Subcommands of the cli layer itself: they combine several collectors, so they belong to no
// collector's folder (one collector's subcommands register through AITRACE_COLLECTORS instead).
#pragma once

#include <CLI/CLI.hpp>

namespace aitrace {

struct CommandContext;  // aitrace/driver/registration.hpp

// `aitrace serve`: aitrace_serve, or aitrace_serve_unavailable in a static build (user/CMakeLists.txt).
void register_serve_command(CLI::App& app, int& exit_code);
// `aitrace capture`: every collector into one incident bundle (user/cli/capture/).
void register_capture_command(CLI::App& app, const CommandContext& ctx);

}  // namespace aitrace
