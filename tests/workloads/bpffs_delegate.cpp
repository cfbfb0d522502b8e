// bpffs_delegate [options] DIR -- CMD ARGS...: runs CMD as root of a new user namespace, unprivileged
// on the host, with a bpffs mounted at DIR (in a new mount namespace) that the host delegated BPF
// token rights to. This is what a container runtime does for a BPF-token container (Linux 6.9+),
// and what docs/containers.md describes:
//
//   child (uid UID on the host)        parent (root in the initial user namespace)
//   unshare(USER), map 0 -> UID
//   unshare(NS), fsopen("bpf")  -- fs fd ->
//                                       fsconfig(delegate_cmds/maps/progs/attachs)
//                                       fsconfig(FSCONFIG_CMD_CREATE)
//                               <- ok --
//   fsmount, move_mount onto DIR, exec CMD
//
// The bpffs must be created in the user namespace that will use it (a token is refused for a
// bpffs whose owner is another user namespace, and always in the initial one), while only a
// process with CAP_SYS_ADMIN in the initial namespace may set the delegate_* options. Hence the
// exchange of the half-made filesystem over a unix socket.
//
// Options (each default "any"; a colon list such as "map_create:prog_load" names enum members
// without their BPF_ prefix; "" delegates nothing of that kind):
//   --uid UID      the host uid (and gid) the namespace's root maps to; default 65534
//   --cmds LIST, --maps LIST, --progs LIST, --attachs LIST
// Exit: CMD's status; 125 when the set-up failed (its step and errno on stderr).
#include "workload_args.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr int kSetupFailed = 125;

[[noreturn]] void die(const char* step) {
  std::fprintf(stderr, "bpffs_delegate: %s: %s\n", step, std::strerror(errno));
  _exit(kSetupFailed);
}

// One byte with room for one fd in SCM_RIGHTS, for sendmsg and recvmsg alike.
struct FdMessage {
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

void send_fd(int sock, int fd) {
  FdMessage m;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &m.msg, 0) != 1) die("sending the bpffs context");
}

int receive_fd(int sock) {
  FdMessage m;
  if (recvmsg(sock, &m.msg, 0) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

void write_file(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) die(path.c_str());
  close(fd);
}

struct Options {
  int uid = 65534;
  const char* cmds = "any";
  const char* maps = "any";
  const char* progs = "any";
  const char* attachs = "any";
  const char* dir = nullptr;
  char** command = nullptr;
};

[[noreturn]] void run_child(const Options& o, int sock) {
  // Unprivileged on the host: the uid change clears every capability; dumpable again so that
  // this process may write its own /proc/self/uid_map after the unshare.
  if (setgroups(0, nullptr) != 0 || setresgid(o.uid, o.uid, o.uid) != 0 || setresuid(o.uid, o.uid, o.uid) != 0)
    die("dropping to the unprivileged uid");
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) die("PR_SET_DUMPABLE");
  if (unshare(CLONE_NEWUSER) != 0) die("unshare(CLONE_NEWUSER)");
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", "0 " + std::to_string(o.uid) + " 1");
  write_file("/proc/self/gid_map", "0 " + std::to_string(o.uid) + " 1");
  if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("making / private");
  int fs = fsopen("bpf", FSOPEN_CLOEXEC);
  if (fs < 0) die("fsopen(bpf)");
  send_fd(sock, fs);
  int parent_errno = 0;
  if (read(sock, &parent_errno, sizeof(parent_errno)) != sizeof(parent_errno)) die("waiting for the host");
  if (parent_errno != 0) _exit(kSetupFailed);  // the parent said why
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0) die("fsmount");
  if (move_mount(mnt, "", AT_FDCWD, o.dir, MOVE_MOUNT_F_EMPTY_PATH) != 0) die("move_mount onto DIR");
  close(mnt);
  close(fs);
  close(sock);
  execvp(o.command[0], o.command);
  die("exec");
}

// The host's half: the delegation options, which need CAP_SYS_ADMIN in the initial namespace.
int delegate(const Options& o, int fs) {
  const std::pair<const char*, const char*> options[] = {
      {"delegate_cmds", o.cmds}, {"delegate_maps", o.maps}, {"delegate_progs", o.progs}, {"delegate_attachs", o.attachs}};
  for (const auto& [key, value] : options) {
    if (*value == '\0') continue;
    if (fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0) != 0) {
      int err = errno;
      std::fprintf(stderr, "bpffs_delegate: fsconfig %s=%s: %s\n", key, value, std::strerror(err));
      return err;
    }
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    std::fprintf(stderr, "bpffs_delegate: fsconfig FSCONFIG_CMD_CREATE: %s\n", std::strerror(err));
    return err;
  }
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
    std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--uid" && has_value) o.uid = int_arg(argv[++i], "--uid");
    else if (a == "--cmds" && has_value) o.cmds = argv[++i];
    else if (a == "--maps" && has_value) o.maps = argv[++i];
    else if (a == "--progs" && has_value) o.progs = argv[++i];
    else if (a == "--attachs" && has_value) o.attachs = argv[++i];
    else if (a[0] != '-' && !o.dir) o.dir = argv[i];
    else break;
  }
  if (!o.dir || i + 1 >= argc || std::strcmp(argv[i], "--") != 0 || o.uid <= 0) {
    std::fprintf(stderr,
                 "usage: bpffs_delegate [--uid UID] [--cmds L] [--maps L] [--progs L] [--attachs L] DIR -- CMD ARGS...\n");
    std::exit(2);
  }
  o.command = argv + i + 1;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int socks[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) != 0) die("socketpair");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(socks[0]);
    run_child(o, socks[1]);
  }
  close(socks[1]);
  int fs = receive_fd(socks[0]);
  int err = fs < 0 ? EPROTO : delegate(o, fs);
  if (fs >= 0) close(fs);
  if (write(socks[0], &err, sizeof(err)) != sizeof(err) && err == 0) err = EPIPE;
  close(socks[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (err != 0) return kSetupFailed;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
