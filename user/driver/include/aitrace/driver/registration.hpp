// What a collector's folder registers with the program: its subcommands and its hook table.
//
// Each collector's command/ folder defines `CollectorEntry <name>_collector_entry()`, and the
// build generates the one list of them from AITRACE_COLLECTORS (user/CMakeLists.txt), so adding
// a collector never edits main.cpp or another collector's code.
#pragma once

#include "aitrace/core/tracepoint_catalog.hpp"

#include <CLI/CLI.hpp>

#include <string_view>
#include <vector>

namespace aitrace {

struct CommandContext {
  int* exit_code = nullptr;                   // a command's callback stores the process exit code here
  std::vector<CollectorTracepoints> catalog;  // every registered collector's hook table (doctor's input)
};

struct CollectorEntry {
  std::string_view name;  // the folder name: "sched", "eevdf", ...
  // Adds the collector's subcommands to the app. The context outlives app.parse().
  void (*add_commands)(CLI::App& app, const CommandContext& ctx) = nullptr;
  // Its hook table for doctor's catalog; null for a collector without BPF hooks (doctor).
  CollectorTracepoints (*tracepoints)() = nullptr;
};

// The entries of AITRACE_COLLECTORS, in that order (generated: registry.cpp.in).
const std::vector<CollectorEntry>& registered_collectors();

// Every registered collector's hook table.
std::vector<CollectorTracepoints> collector_catalog();

}  // namespace aitrace
