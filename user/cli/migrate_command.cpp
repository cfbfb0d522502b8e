#include "commands.hpp"

#include "aitrace/cli.hpp"

namespace aitrace {

// Placeholder until the migrate collector lands: registered so the CLI lists it, and says so.
void register_migrate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("migrate", "migrate (not implemented yet)");
  cmd->callback([&exit_code] { exit_code = report_error(make_error(ErrorKind::unsupported, "'migrate' is not implemented yet")); });
}

}  // namespace aitrace
