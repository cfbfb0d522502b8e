#include "aitrace/core/bpf_token.hpp"

#include "aitrace/core/hooks.hpp"
#include "aitrace/core/log.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace aitrace {
namespace {

// include/uapi/linux/bpf.h (Linux 6.9+): the command's token_fd field is set. Debian 12's uapi
// headers predate it.
constexpr __u32 kBpfFTokenFd = 1U << 16;
constexpr const char* kDefaultBpffs = "/sys/fs/bpf";  // libbpf's BPF_FS_DEFAULT_PATH

struct TokenState {
  bool chosen = false;
  std::string libbpf_path;  // what bpf_object opens get ("" = off)
  bool libbpf_default = true;
  std::string source;       // the bpffs the token fd came from
  int fd = 0;
};

std::vector<std::string_view> split_list(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

TokenState& state() {
  static TokenState s;
  return s;
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return fmt::format("{} ({})", std::strerror(err), name ? name : std::to_string(err).c_str());
}

// Why bpf_token_create() refused `path` (a bpffs mount point that aitrace opened): the kernel's
// checks in kernel/bpf/token.c, in their order.
Error token_refused(const std::string& path, int err, const char* what) {
  switch (err) {
    case ENOENT:
      return make_error(ErrorKind::privilege,
                        "{} {}: the bpffs was mounted without delegate_cmds/delegate_maps/delegate_progs/"
                        "delegate_attachs options, so it grants no BPF token (docs/containers.md)",
                        what, path);
    case EOPNOTSUPP:
      return make_error(ErrorKind::usage,
                        "{} {}: the bpffs belongs to the host's (initial) user namespace, where the kernel makes no "
                        "tokens; a token is for a process in a user namespace, from a bpffs created in that "
                        "namespace with delegate_* options set by the host (docs/containers.md)",
                        what, path);
    case EPERM:
      return make_error(ErrorKind::privilege,
                        "{} {}: the bpffs belongs to another user namespace than aitrace's, or aitrace lacks "
                        "CAP_BPF in it (docs/containers.md)",
                        what, path);
    case EINVAL:
      return make_error(ErrorKind::usage, "{} {}: not the root of a bpffs mount (give its mount point)", what, path);
    default:
      return make_error(ErrorKind::runtime, "{} {}: creating a BPF token failed: {}", what, path, errno_name(err));
  }
}

// The token fd from the bpffs at `path`, or why there is none.
Result<int> create_token(const std::string& path, const char* what) {
  int dir = open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dir < 0) {
    const int err = errno;
    return make_error(err == EACCES ? ErrorKind::privilege : ErrorKind::usage, "{} {}: {}", what, path,
                      err == ENOTDIR ? std::string("not a directory (expected a bpffs mount point)") : errno_name(err));
  }
  struct statfs fs{};
  if (fstatfs(dir, &fs) != 0 || static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC) {
    close(dir);
    return make_error(ErrorKind::usage, "{} {}: not a BPF filesystem (bpffs); mount one with delegate_* options "
                      "(docs/containers.md)", what, path);
  }
  if (!kernel_has_bpf_tokens()) {
    close(dir);
    return make_error(ErrorKind::unsupported, "{} {}: this kernel has no BPF tokens (Linux 6.9+)", what, path);
  }
  const int fd = bpf_token_create(dir, nullptr);
  const int err = errno;
  close(dir);
  if (fd < 0) return token_refused(path, err, what);
  return fd;
}

}  // namespace

bool kernel_has_bpf_tokens() {
  // The kernel's BTF names the command (enum bpf_cmd) wherever it exists.
  const btf* b = vmlinux_btf();
  const int id = b ? btf__find_by_name_kind(b, "bpf_cmd", BTF_KIND_ENUM) : -1;
  const btf_type* t = id > 0 ? btf__type_by_id(b, static_cast<__u32>(id)) : nullptr;
  if (!t) return false;
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); i++, e++)
    if (std::string_view(btf__name_by_offset(b, e->name_off)) == "BPF_TOKEN_CREATE") return true;
  return false;
}

Status use_bpf_token(const std::string& option) {
  TokenState& s = state();
  if (s.chosen) return {};
  s.chosen = true;
  const char* env = std::getenv("LIBBPF_BPF_TOKEN_PATH");
  if (option.empty() && env && *env == '\0') {
    s.libbpf_default = false;  // tokens turned off, as libbpf does for ""
    debug("BPF token: off (LIBBPF_BPF_TOKEN_PATH is empty)");
    return {};
  }
  if (!option.empty() || env) {
    const std::string path = option.empty() ? env : option;
    auto fd = create_token(path, option.empty() ? "LIBBPF_BPF_TOKEN_PATH" : "--bpf-token");
    if (!fd) return fd.error();
    s.fd = *fd;
    s.libbpf_default = false;
    s.libbpf_path = s.source = path;
    debug("BPF token: from {}", path);
    return {};
  }
  // libbpf's implicit default: a token from /sys/fs/bpf when one can be made, silently nothing
  // otherwise (not mounted, no delegation, the host's namespace).
  int dir = open(kDefaultBpffs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dir < 0) return {};
  const int fd = bpf_token_create(dir, nullptr);
  close(dir);
  if (fd > 0) {
    s.fd = fd;
    s.source = kDefaultBpffs;
    debug("BPF token: from {} (libbpf's default bpffs)", kDefaultBpffs);
  }
  return {};
}

const char* bpf_token_path_for_libbpf() {
  const TokenState& s = state();
  return s.libbpf_default ? nullptr : s.libbpf_path.c_str();
}

int bpf_token_fd() { return state().fd; }
const std::string& bpf_token_source() { return state().source; }

namespace {

// The options of a direct bpf() call with the token and its flag (the flag field's name differs
// per command).
template <typename Opts>
Opts opts_with_token(__u32 Opts::*flags) {
  Opts o{};
  o.sz = sizeof(o);
  if (const int fd = bpf_token_fd(); fd > 0) {
    o.token_fd = static_cast<__u32>(fd);
    o.*flags |= kBpfFTokenFd;
  }
  return o;
}

}  // namespace

bpf_prog_load_opts prog_load_opts_with_token() { return opts_with_token(&bpf_prog_load_opts::prog_flags); }
bpf_map_create_opts map_create_opts_with_token() { return opts_with_token(&bpf_map_create_opts::map_flags); }
bpf_btf_load_opts btf_load_opts_with_token() { return opts_with_token(&bpf_btf_load_opts::btf_flags); }

BpffsDelegation parse_bpffs_delegation(std::string_view super_options) {
  BpffsDelegation d;
  for (std::string_view item : split_list(super_options, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = item.substr(0, eq);
    std::string value(item.substr(eq + 1));
    if (key == "delegate_cmds") d.cmds = value;
    else if (key == "delegate_maps") d.maps = value;
    else if (key == "delegate_progs") d.progs = value;
    else if (key == "delegate_attachs") d.attachs = value;
  }
  return d;
}

const NeededDelegation* needed_bpffs_delegation(size_t* count) {
  static constexpr NeededDelegation kNeeded[] = {
      {"delegate_cmds", "map_create:prog_load:btf_load"},
      {"delegate_maps", "array:hash:percpu_array:percpu_hash:ringbuf:array_of_maps:task_storage:stack_trace"},
      {"delegate_progs", "socket_filter:tracing:raw_tracepoint"},
      {"delegate_attachs", "trace_raw_tp:cgroup_inet_ingress"},
  };
  *count = sizeof(kNeeded) / sizeof(kNeeded[0]);
  return kNeeded;
}

std::optional<std::string> missing_delegation(std::string_view value, std::string_view needed) {
  if (value == "any") return std::string();
  if (value.starts_with("0x")) return std::nullopt;
  const std::vector<std::string_view> have = split_list(value, ':');
  std::string missing;
  for (std::string_view name : split_list(needed, ':'))
    if (std::find(have.begin(), have.end(), name) == have.end())
      missing += (missing.empty() ? "" : ":") + std::string(name);
  return missing;
}

}  // namespace aitrace
