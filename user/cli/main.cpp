#include "aitrace/driver/options.hpp"
#include "aitrace/core/run_loop.hpp"
#include "aitrace/driver/registration.hpp"
#include "aitrace/core/caps.hpp"
#include "commands.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string_view>

namespace {

// Started with fd 0, 1 or 2 closed, the next open() (an -o temporary, a BPF map) would become
// "stdout", and reports would land in it: hold those numbers with /dev/null first.
void hold_standard_fds() {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1) continue;
    int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

int run(int argc, char** argv) {
  hold_standard_fds();
  // A closed stdout (`| head`) is a write error the report writer handles, not a fatal signal.
  signal(SIGPIPE, SIG_IGN);
  // Before any thread exists, so SIGINT/SIGTERM/SIGHUP only ever reach the run loop's signalfd.
  aitrace::block_stop_signals();
  // The container image's binary carries its capabilities as permitted only (deploy/build-image).
  aitrace::raise_permitted_tracing_capabilities();
  CLI::App app{"aitrace: eBPF tracing for AI training and inference hosts"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "aitrace 0.1.0");
  int exit_code = 0;
  // Every collector's subcommands, in AITRACE_COLLECTORS order (user/CMakeLists.txt).
  const aitrace::CommandContext ctx{&exit_code, aitrace::collector_catalog()};
  for (const auto& c : aitrace::registered_collectors()) c.add_commands(app, ctx);
  // Commands above the collectors: serve runs several of them behind one HTTP endpoint, capture
  // runs them all into one bundle.
  aitrace::register_serve_command(app, exit_code);
  aitrace::register_capture_command(app, ctx);
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
  } catch (const CLI::ExtrasError& e) {
    // `aitrace sched sh -c '...'`: CMD's own options reach aitrace's parser without a `--`.
    bool dashdash = false;
    for (int i = 1; i < argc; i++) dashdash |= std::string_view(argv[i]) == "--";
    if (dashdash) {
      std::fprintf(stderr, "aitrace: %s (see aitrace --help)\n", e.what());
    } else {
      std::fprintf(stderr, "aitrace: %s (to run a command, put -- before it: aitrace %s [options] -- CMD ARGS...)\n",
                   e.what(), argv[1]);
    }
    return 2;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "aitrace: %s (see aitrace --help)\n", e.what());
    return 2;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Expected errors travel as values; an exception that still escapes (std::bad_alloc, a library's
  // error) ends in one line and an exit code here. Uncaught, it would abort without unwinding:
  // no destructor would run, and -o's temporary file would stay behind.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fputs("aitrace: out of memory\n", stderr);
    return 5;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aitrace: internal error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fputs("aitrace: internal error: an unknown exception\n", stderr);
    return 1;
  }
}
