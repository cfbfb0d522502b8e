// Who `-- CMD` runs as. aitrace needs CAP_BPF and CAP_PERFMON (often it runs as root); the job it
// starts needs neither, and under sudo it should not run as root at all. So CMD starts with no
// capabilities (every set cleared, the ambient one included): as --user USER, as the sudo caller
// (SUDO_UID/SUDO_GID) when aitrace runs under sudo as root, else as aitrace's own user.
// --keep-caps keeps the old behaviour: CMD inherits aitrace's user and capabilities.
#pragma once

#include "aitrace/core/result.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace aitrace {

struct CommandCredentials {
  bool keep = false;         // --keep-caps: nothing is dropped
  std::optional<uid_t> uid;  // switch to this user before exec (its gid and groups too)
  gid_t gid = 0;
  std::vector<gid_t> groups;
  // uid 0 without a switch: exec would hand root its full capability set again unless the
  // securebits say otherwise, which needs CAP_SETPCAP (checked here, before anything forks).
  bool root_without_switch = false;
  std::string who;  // "alice (uid 1000)", for messages
};

// --user (a name or a numeric uid; empty: not given), --keep-caps, and SUDO_UID/SUDO_GID from the
// environment, resolved before CMD is forked (user lookups are not safe in a forked child).
// `sudo_uid`/`sudo_gid` are the environment's values (null: unset).
Result<CommandCredentials> command_credentials(const std::string& user, bool keep_caps, const char* sudo_uid,
                                               const char* sudo_gid);

// In the forked child, before exec; raw system calls only. Returns 0, or the errno of the step
// that failed with *step naming it.
int drop_command_privileges(const CommandCredentials& c, const char** step);

}  // namespace aitrace
