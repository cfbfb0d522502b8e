// Each subcommand registers itself on the app; its callback stores the process exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace aitrace {

void register_doctor_command(CLI::App& app, int& exit_code);
void register_sched_command(CLI::App& app, int& exit_code);
void register_migrate_command(CLI::App& app, int& exit_code);
void register_dma_command(CLI::App& app, int& exit_code);
void register_sched_trace_command(CLI::App& app, int& exit_code);  // hidden
// aitrace_serve, or aitrace_serve_unavailable in a static build (user/CMakeLists.txt).
void register_serve_command(CLI::App& app, int& exit_code);

}  // namespace aitrace
