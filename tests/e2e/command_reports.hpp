// What several e2e files need from the program's commands and their reports.
#pragma once

#include "aitrace/driver/registration.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace aitrace::test {

// Every subcommand that runs through the driver (it has the driver's -d), from the registry: a new
// collector's command gets the checks that use this without an edit there.
inline std::vector<std::string> tracing_commands() {
  CLI::App app;
  int exit_code = 0;
  const CommandContext ctx{&exit_code, {}};
  for (const auto& c : registered_collectors()) c.add_commands(app, ctx);
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands({}))
    if (sub->get_option_no_throw("--duration") != nullptr) names.push_back(sub->get_name());
  return names;
}

// The report documents in a command's stdout (JSON lines), in order; other lines (a workload's
// own output) are skipped.
inline std::vector<nlohmann::json> report_documents(const std::string& out) {
  std::vector<nlohmann::json> docs;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json d = nlohmann::json::parse(line, nullptr, false);
    if (!d.is_discarded() && d.is_object() && d.contains("schema")) docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace aitrace::test
