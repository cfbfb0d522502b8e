// deploy/systemd/aitrace.service. systemd is not PID 1 on the test VM (its init is the
// sandbox's own), so the unit cannot be started here with systemd-run or systemctl; what can be
// checked is that systemd 252's own parser accepts every line of it (`systemd-analyze verify`
// warns about an unknown or misspelt key, a bad value, a missing binary) and that the command it
// starts is a valid serve command line. The capability set it grants is exercised by
// ServeE2E.ServesAsAnUnprivilegedUserWithOnlyCapBpfAndCapPerfmon.
#include "test_support.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

// The unit with ExecStart pointed at this build's binary, in a fresh directory.
fs::path unit_copy(const std::string& text, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("aitrace-unit-" + std::to_string(getpid()) + "-" + name);
  fs::create_directories(dir);
  std::ofstream(dir / "aitrace.service")
      << std::regex_replace(text, std::regex("/usr/local/bin/aitrace"), test::aitrace_binary());
  return dir;
}

void require_systemd_analyze() {
  if (!fs::exists("/usr/bin/systemd-analyze")) AITRACE_REQUIRE_ENV_OR_SKIP("systemd-analyze is not installed");
}

TEST(ServeSystemd, SystemdAcceptsEveryLineOfTheUnit) {
  require_systemd_analyze();
  const std::string unit = test::read_file(std::string(AITRACE_SOURCE_DIR) + "/deploy/systemd/aitrace.service");
  ASSERT_NE(unit.find("ExecStart=/usr/local/bin/aitrace serve"), std::string::npos) << unit;
  const fs::path dir = unit_copy(unit, "good");
  auto r = test::run_command({"systemd-analyze", "verify", (dir / "aitrace.service").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warned";

  // The same check finds a misspelt key, so its silence above means something.
  const fs::path bad = unit_copy(std::regex_replace(unit, std::regex("ProtectSystem="), "ProtectSystm="), "bad");
  auto w = test::run_command({"systemd-analyze", "verify", (bad / "aitrace.service").string()});
  EXPECT_NE(w.err.find("Unknown key 'ProtectSystm'"), std::string::npos) << w.err;
  fs::remove_all(dir);
  fs::remove_all(bad);
}

// ExecStart's arguments are a serve command line this binary takes: with `--listen x` appended
// (a later --listen wins), it stops at the address check, before anything is loaded.
TEST(ServeSystemd, ExecStartIsAValidServeCommand) {
  const std::string unit = test::read_file(std::string(AITRACE_SOURCE_DIR) + "/deploy/systemd/aitrace.service");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(unit, m, std::regex("\nExecStart=/usr/local/bin/aitrace ([^\n]*)\n"))) << unit;
  std::vector<std::string> argv = {test::aitrace_binary()};
  std::istringstream words(m[1].str());
  for (std::string w; words >> w;) argv.push_back(w);
  argv.insert(argv.end(), {"--listen", "x"});
  auto r = test::run_command(argv);
  if (r.err.find("not in this static build") != std::string::npos)
    AITRACE_REQUIRE_ENV_OR_SKIP("this aitrace is a static build without serve");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--listen"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace aitrace
