// `-- CMD` starts with no capabilities (issue 16): CMD reports its own /proc/self/status, so the
// kernel says what it really got. And a bpf() refused by a seccomp filter is explained as seccomp.
#include "test_support.hpp"

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The Uid/Gid and Cap* lines CMD printed, as "CapEff" -> "0000000000000000".
std::map<std::string, std::string> status_fields(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream v(line.substr(colon + 1));
    std::string first;
    v >> first;
    m[line.substr(0, colon)] = first;
  }
  return m;
}

class CommandPrivileges : public ::testing::Test {
 protected:
  void SetUp() override {
    AITRACE_REQUIRE_BPF_OR_SKIP();
    if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root: the tests switch users");
    dir_ = fs::temp_directory_path() / ("aitrace-cmdpriv-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    // nobody runs a copy of aitrace here when the build tree is not readable to it, and writes
    // its report into out/.
    chmod(dir_.c_str(), 0755);
    fs::create_directories(dir_ / "out");
    ASSERT_EQ(chown((dir_ / "out").c_str(), 65534, 65534), 0);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // aitrace sched traces CMD, which prints its ids and capability sets; the report goes to a
  // file, so stdout holds only CMD's lines.
  std::map<std::string, std::string> run_cmd(std::vector<std::string> prefix, std::vector<std::string> options,
                                             const std::string& bin = test::aitrace_binary()) {
    std::vector<std::string> argv = std::move(prefix);
    argv.insert(argv.end(), {bin, "sched", "--by", "none", "--json", "-o", (dir_ / "out" / "report.json").string()});
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--", "grep", "-E", "^(Uid|Gid|Cap(Inh|Prm|Eff|Amb)):", "/proc/self/status"});
    auto r = test::run_command(argv);
    fs::remove(dir_ / "out" / "report.json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return status_fields(r.out);
  }

  fs::path dir_;
};

constexpr const char* kNone = "0000000000000000";

void expect_no_capabilities(const std::map<std::string, std::string>& s) {
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
    ASSERT_TRUE(s.count(set)) << set;
    EXPECT_EQ(s.at(set), kNone) << set;
  }
}

TEST_F(CommandPrivileges, RootCommandStartsWithNoCapabilities) {
  auto s = run_cmd({}, {});
  EXPECT_EQ(s["Uid"], "0");  // still root, as the user asked for no other user
  expect_no_capabilities(s);
}

TEST_F(CommandPrivileges, KeepCapsKeepsThem) {
  auto s = run_cmd({}, {"--keep-caps"});
  EXPECT_EQ(s["Uid"], "0");
  EXPECT_NE(s["CapEff"], kNone);
}

TEST_F(CommandPrivileges, UserAndSudoCallerSwitchTheUser) {
  auto user = run_cmd({}, {"--user", "nobody"});
  EXPECT_EQ(user["Uid"], "65534");
  EXPECT_EQ(user["Gid"], "65534");
  expect_no_capabilities(user);
  // Under sudo, CMD runs as the caller: SUDO_UID/SUDO_GID as sudo sets them.
  auto sudo = run_cmd({"env", "SUDO_UID=65534", "SUDO_GID=65534"}, {});
  EXPECT_EQ(sudo["Uid"], "65534");
  EXPECT_EQ(sudo["Gid"], "65534");
  expect_no_capabilities(sudo);
}

// aitrace as deploy/systemd/aitrace.service runs it: not root, CAP_BPF and CAP_PERFMON ambient.
// Ambient capabilities pass through exec by design; CMD must not get them.
TEST_F(CommandPrivileges, AmbientCapabilitiesDoNotReachTheCommand) {
  const std::string bin = (dir_ / "aitrace").string();
  fs::copy_file(test::aitrace_binary(), bin);
  chmod(bin.c_str(), 0755);
  auto s = run_cmd({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+bpf,+perfmon",
                    "--ambient-caps=-all,+bpf,+perfmon", "--bounding-set=-all,+bpf,+perfmon"},
                   {}, bin);
  EXPECT_EQ(s["Uid"], "65534");
  expect_no_capabilities(s);
}

TEST_F(CommandPrivileges, BadUserOptionsAreOneLineErrors) {
  auto unknown = test::run_command({test::aitrace_binary(), "sched", "--user", "aitrace-no-such-user", "--", "true"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err,
            "aitrace: --user aitrace-no-such-user: no such user (give a name from the passwd database or a uid)\n");
  auto no_cmd = test::run_command({test::aitrace_binary(), "sched", "-d", "1", "--user", "nobody"});
  EXPECT_EQ(no_cmd.exit_code, 2);
  EXPECT_EQ(no_cmd.err, "aitrace: --user applies to -- CMD only\n");
}

// Container runtimes' default seccomp profiles answer bpf() with EPERM without CAP_SYS_ADMIN; the
// seccomp_deny workload installs such a filter and runs aitrace under it.
TEST_F(CommandPrivileges, SeccompRefusalIsExplainedAsSeccomp) {
  auto r = test::run_command({test::workload("seccomp_deny"), test::aitrace_binary(), "sched", "-d", "1"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("a seccomp filter is installed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("deploy/seccomp/aitrace.json"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  auto doctor = test::run_command({test::workload("seccomp_deny"), test::aitrace_binary(), "doctor", "--json"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  json d = json::parse(doctor.out);
  EXPECT_EQ(d["isolation"]["seccomp"]["value"]["mode"], "filter");
  EXPECT_EQ(d["isolation"]["seccomp"]["status"], "warn");
  EXPECT_EQ(d["isolation"]["user_namespace"]["value"], "initial");
}

}  // namespace
}  // namespace aitrace
