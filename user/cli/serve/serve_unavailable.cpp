// `aitrace serve` in a static build: cpp-httplib is Debian's shared library only, so the static
// binary (AITRACE_STATIC, the VM guests) has the command's name and this one-line refusal.
#include "commands.hpp"

#include <cstdio>

namespace aitrace {

void register_serve_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Export metrics over HTTP (not in this static build)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fputs("aitrace: serve is not in this static build (its HTTP library is shared-only); use the normal build\n",
               stderr);
    exit_code = 3;
  });
}

}  // namespace aitrace
