#include "aitrace/core/command_credentials.hpp"

#include "aitrace/core/caps.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace aitrace {
namespace {

constexpr int kCapSetpcap = 8;

std::optional<uint32_t> parse_id(const char* text) {
  if (!text || !*text) return std::nullopt;
  uint32_t v = 0;
  const char* end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

// The passwd entry of a name or a numeric uid (null when there is none).
const passwd* lookup_user(const std::string& user, std::optional<uint32_t> uid) {
  errno = 0;
  return uid ? getpwuid(*uid) : getpwnam(user.c_str());
}

Status fill_groups(CommandCredentials& c, const passwd* pw) {
  if (!pw) return {};  // a numeric uid with no passwd entry: no supplementary groups
  int n = 32;
  for (int tries = 0; tries < 4; tries++) {
    c.groups.assign(static_cast<size_t>(n), 0);
    int want = n;
    if (getgrouplist(pw->pw_name, c.gid, c.groups.data(), &want) >= 0) {
      c.groups.resize(static_cast<size_t>(want));
      return {};
    }
    n = want > n ? want : n * 2;
  }
  return make_error(ErrorKind::runtime, "cannot list the groups of user {}", pw->pw_name);
}

}  // namespace

Result<CommandCredentials> command_credentials(const std::string& user, bool keep_caps, const char* sudo_uid,
                                               const char* sudo_gid) {
  CommandCredentials c;
  if (keep_caps) {
    if (!user.empty()) return make_error(ErrorKind::usage, "--user and --keep-caps cannot be combined");
    c.keep = true;
    return c;
  }
  const bool root = geteuid() == 0;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  const passwd* pw = nullptr;
  if (!user.empty()) {
    uid = parse_id(user.c_str());
    pw = lookup_user(user, uid);
    if (!pw && !uid)
      return make_error(ErrorKind::usage, "--user {}: no such user (give a name from the passwd database or a uid)",
                        user);
    if (pw) {
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    }
  } else if (root && sudo_uid) {
    // Under sudo the job runs as the user who typed the command, as it would without aitrace.
    uid = parse_id(sudo_uid);
    if (!uid) return make_error(ErrorKind::usage, "SUDO_UID='{}' is not a uid; give --user or --keep-caps", sudo_uid);
    gid = parse_id(sudo_gid);
    pw = lookup_user("", uid);
    if (!gid && pw) gid = pw->pw_gid;
  }
  if (uid && *uid != geteuid()) {
    c.uid = uid;
    c.gid = gid.value_or(*uid);
    c.who = pw ? fmt::format("{} (uid {})", pw->pw_name, *uid) : fmt::format("uid {}", *uid);
    AITRACE_TRY(fill_groups(c, pw));
    return c;
  }
  c.root_without_switch = root;
  c.who = root ? "root without capabilities" : fmt::format("uid {} without capabilities", geteuid());
  if (root) {
    auto caps = read_own_capabilities();
    if (caps && !caps->has(kCapSetpcap))
      return make_error(ErrorKind::privilege,
                        "-- CMD would get its capabilities back at exec: aitrace runs as uid 0 without CAP_SETPCAP, "
                        "which stopping that needs; give --user USER to run CMD as another user, or --keep-caps");
  }
  return c;
}

int drop_command_privileges(const CommandCredentials& c, const char** step) {
  if (c.keep) return 0;
  // Ambient capabilities survive exec of an ordinary binary: the one way a non-root aitrace with
  // ambient CAP_BPF would pass them on. EINVAL: a kernel without ambient capabilities (< 4.3).
  if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *step = "clearing the ambient capabilities";
    return errno;
  }
  if (c.uid) {
    // Raw system calls: glibc's set*id wrappers signal every thread of the process, and a forked
    // child of a threaded process must not rely on that machinery.
    if (syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0) {
      *step = "setgroups";
      return errno;
    }
    if (syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0) {
      *step = "setresgid";
      return errno;
    }
    // Leaving uid 0 clears the permitted and effective sets (no SECBIT_KEEP_CAPS is set).
    if (syscall(SYS_setresuid, *c.uid, *c.uid, *c.uid) != 0) {
      *step = "setresuid";
      return errno;
    }
  } else if (c.root_without_switch) {
    // exec as uid 0 grants the whole bounding set unless SECBIT_NOROOT is set; locked, so CMD
    // cannot turn it off again. Setting it needs CAP_SETPCAP, so it comes before the sets clear.
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                               SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (syscall(SYS_prctl, PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
      *step = "setting SECBIT_NOROOT";
      return errno;
    }
  }
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct none[2] = {};
  if (syscall(SYS_capset, &header, none) != 0) {
    *step = "clearing the capability sets";
    return errno;
  }
  return 0;
}

}  // namespace aitrace
