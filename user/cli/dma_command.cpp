#include "commands.hpp"

#include "aitrace/cli.hpp"

namespace aitrace {

// Placeholder until the dma collector lands: registered so the CLI lists it, and says so.
void register_dma_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("dma", "dma (not implemented yet)");
  cmd->callback([&exit_code] { exit_code = report_error(make_error(ErrorKind::unsupported, "'dma' is not implemented yet")); });
}

}  // namespace aitrace
