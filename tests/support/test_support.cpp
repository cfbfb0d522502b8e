#include "test_support.hpp"

#include "aitrace/core/hooks.hpp"

#include <map>
#include <memory>

#include "aitrace/core/caps.hpp"
#include "aitrace/core/map_walk.hpp"
#include "aitrace/core/parse_number.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

namespace aitrace::test {
namespace {

// Under `sudo scripts/test`, aitrace would run every test's `-- CMD` as the sudo caller
// (command_credentials.hpp), who cannot write the tests' root-owned temporary files. The tests
// run as root, as CI does; the tests of that default set SUDO_UID themselves.
[[maybe_unused]] const bool kSudoCallerCleared = []() noexcept {
  unsetenv("SUDO_UID");
  unsetenv("SUDO_GID");
  return true;
}();
// argv for execvp/posix_spawnp: pointers into argv's strings, null-terminated.
std::vector<char*> exec_args(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

}  // namespace

bool bpf_required() {
  const char* v = std::getenv("AITRACE_REQUIRE_BPF");
  return v && std::string(v) == "1";
}

std::string bpf_unavailable_reason() {
  auto caps = read_own_capabilities();
  if (!caps) return caps.error().message;
  if (auto st = check_tracing_capabilities(*caps); !st) return st.error().message;
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "no /sys/kernel/btf/vmlinux";
  return {};
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return r;
  std::vector<char*> args = exec_args(argv);  // before fork: the child of a threaded process must not allocate
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Background::~Background() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int Background::wait() {
  int st = 0;
  waitpid(pid_, &st, 0);
  reaped_ = true;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool wait_for_text(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (read_file(path).find(needle) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

uint64_t repaired_switches(const std::string& err) {
  const std::string marker = " switches and wakeups that never reached the program closed from sched_info stamps";
  const size_t at = err.rfind(marker);
  if (at == std::string::npos) return 0;
  const size_t start = err.rfind(' ', at - 1) + 1;
  uint64_t n = 0;
  std::from_chars(err.data() + start, err.data() + at, n);
  return n;
}

// AITRACE_TEST_BINARY: scripts/test-sanitize runs the e2e layer's tests (built normally) against
// the ASAN+UBSAN build of aitrace.
std::string aitrace_binary() {
  const char* other = std::getenv("AITRACE_TEST_BINARY");
  return other && *other ? other : AITRACE_BINARY;
}
std::string workload(const std::string& name) { return std::string(AITRACE_WORKLOAD_DIR) + "/" + name; }
std::string test_data(const std::string& relative) { return std::string(AITRACE_TEST_DATA_DIR) + "/" + relative; }

std::set<int64_t> ids_after(const std::string& text, const std::string& key) {
  std::set<int64_t> ids;
  const size_t at = text.find(key + "=");
  if (at == std::string::npos) return ids;
  const size_t from = at + key.size() + 1;
  std::istringstream line(text.substr(from, text.find('\n', from) - from));
  for (int64_t id = 0; line >> id;) ids.insert(id);
  return ids;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {
Schedstat schedstat_in(const std::string& task_dir) {
  Schedstat s;
  std::istringstream schedstat(read_file(task_dir + "/schedstat"));
  if (!(schedstat >> s.run >> s.wait >> s.slices)) s = {};
  std::string status = read_file(task_dir + "/status");
  size_t at = status.find("\nvoluntary_ctxt_switches:");
  if (at != std::string::npos) s.voluntary = std::strtoull(status.c_str() + at + 25, nullptr, 10);
  at = status.find("\nnonvoluntary_ctxt_switches:");
  if (at != std::string::npos) s.involuntary = std::strtoull(status.c_str() + at + 28, nullptr, 10);
  return s;
}
}  // namespace

Schedstat own_schedstat() { return schedstat_in("/proc/thread-self"); }
Schedstat thread_schedstat(uint32_t tid) { return schedstat_in("/proc/self/task/" + std::to_string(tid)); }

std::vector<int> allowed_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  return cpus;
}

CpuPin::CpuPin(int cpu) {
  CPU_ZERO(&before_);
  if (sched_getaffinity(0, sizeof(before_), &before_) != 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pinned_ = sched_setaffinity(0, sizeof(one), &one) == 0;
}

CpuPin::~CpuPin() {
  if (pinned_) sched_setaffinity(0, sizeof(before_), &before_);
}

int run_raw_tp(int prog_fd, const std::vector<uint64_t>& args) {
  std::vector<uint64_t> ctx = args;
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.ctx_in = ctx.data();
  opts.ctx_size_in = static_cast<__u32>(ctx.size() * sizeof(uint64_t));
  int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err) return err < 0 ? err : -errno;
  return static_cast<int>(opts.retval);
}

pid_t spawn_background(const std::vector<std::string>& argv, const std::string& stderr_path) {
  std::vector<char*> args = exec_args(argv);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (!stderr_path.empty())
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return pid;
}

namespace {

// This process's fds whose fdinfo has a line starting with `key` ("map_type:" for maps,
// "prog_type:" for programs; a prog array's "owner_prog_type:" is not a program). fdinfo's first
// line is "pos:", so each of these follows a newline.
std::vector<int> own_fds_with(std::string_view key) {
  std::vector<int> fds;
  const std::string line_start = "\n" + std::string(key);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    auto fd_number = parse_number<int>(entry.path().filename().string());
    if (fd_number && read_file("/proc/self/fdinfo/" + std::to_string(*fd_number)).find(line_start) != std::string::npos)
      fds.push_back(*fd_number);
  }
  return fds;
}

}  // namespace

std::vector<int> own_prog_fds() { return own_fds_with("prog_type:"); }

std::vector<int> own_map_fds_u32(const std::string& name) {
  std::vector<int> fds;
  for (const int fd : own_fds_with("map_type:")) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && name == info.name && info.key_size == sizeof(uint32_t))
      fds.push_back(fd);
  }
  return fds;
}

std::vector<uint32_t> own_map_keys_u32(const std::string& name) {
  std::vector<uint32_t> keys;
  for (const int fd : own_map_fds_u32(name)) for_each_map_key<uint32_t>(fd, [&](uint32_t k) { keys.push_back(k); });
  return keys;
}

const KernelFeatures& features(const char* preferred) {
  static std::map<std::string, std::unique_ptr<HostFeatures>> all;
  auto& f = all[preferred ? preferred : ""];
  if (!f) {
    f = std::make_unique<HostFeatures>();
    if (preferred) f->preferred = parse_hook_kind(preferred);
  }
  return *f;
}

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    a.sin_port = 0;  // the caller's bind then fails visibly
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace aitrace::test
