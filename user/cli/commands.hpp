// Subcommands of the cli layer itself: they combine several collectors, so they belong to no
// collector's folder (one collector's subcommands register through AITRACE_COLLECTORS instead).
#pragma once

#include <CLI/CLI.hpp>

namespace aitrace {

// `aitrace serve`: aitrace_serve, or aitrace_serve_unavailable in a static build (user/CMakeLists.txt).
void register_serve_command(CLI::App& app, int& exit_code);

}  // namespace aitrace
