#include "aitrace/cli/cli.hpp"
#include "aitrace/core/run_loop.hpp"
#include "commands.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  // Before any thread exists, so SIGINT/SIGTERM only ever reach the run loop's signalfd.
  aitrace::block_stop_signals();
  CLI::App app{"aitrace: eBPF tracing for AI training and inference hosts"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "aitrace 0.1.0");
  int exit_code = 0;
  aitrace::register_doctor_command(app, exit_code);
  aitrace::register_sched_command(app, exit_code);
  aitrace::register_migrate_command(app, exit_code);
  aitrace::register_dma_command(app, exit_code);
  aitrace::register_sched_trace_command(app, exit_code);
  // CLI11 reports an unknown subcommand as "a subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) known |= sub->get_name() == argv[1];
    if (!known) {
      std::fprintf(stderr, "aitrace: unknown command '%s' (see aitrace --help)\n", argv[1]);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "aitrace: %s (see aitrace --help)\n", e.what());
    return 2;
  }
  return exit_code;
}
