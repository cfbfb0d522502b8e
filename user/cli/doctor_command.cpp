#include "commands.hpp"

#include "aitrace/cli.hpp"

namespace aitrace {

// Placeholder until the doctor collector lands: registered so the CLI lists it, and says so.
void register_doctor_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("doctor", "doctor (not implemented yet)");
  cmd->callback([&exit_code] { exit_code = report_error(make_error(ErrorKind::unsupported, "'doctor' is not implemented yet")); });
}

}  // namespace aitrace
