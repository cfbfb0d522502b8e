// Kernel strings a task chooses (its comm: any 15 bytes) in every output format of one run:
// nothing reaches a terminal raw, the JSON parses, the Perfetto trace decodes with valid UTF-8
// in every string, and the escaping is unambiguous (a comm that is the text `\xff` and one that
// holds a 0xff byte come out differently). The OpenMetrics side is ServeE2E.PromtoolAccepts...
#include "command_reports.hpp"
#include "eevdf_ground_truth.hpp"
#include "test_support.hpp"

#include "aitrace/output/escape.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

// The names, as prctl(PR_SET_NAME) sets them (at most 15 bytes).
constexpr std::array<const char*, 5> kNames = {"q\"uote\\b", "new\nline", "esc\x1b[31mred", "bad\xff", "lit\\xff"};

std::vector<std::string> named_threads_command() {
  std::vector<std::string> argv = {test::workload("named_threads"), "steady", "400"};
  argv.insert(argv.end(), kNames.begin(), kNames.end());
  return argv;
}

// Valid UTF-8: what sanitize_utf8 keeps unchanged once backslashes (which it doubles) are gone.
bool valid_utf8(std::string s) {
  std::erase(s, '\\');
  return sanitize_utf8(s) == s;
}

TEST(HostileNames, TextHasNoRawControlBytesAndTellsALiteralEscapeFromAByte) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::vector<std::string> argv = {test::aitrace_binary(), "sched", "--by", "thread", "--top", "50", "--"};
  const auto cmd = named_threads_command();
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  auto r = test::run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (char c : r.out)
    EXPECT_TRUE(c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f))
        << "byte " << static_cast<int>(static_cast<unsigned char>(c)) << " reached the terminal";
  for (const char* shown : {"q\"uote\\\\b", "new\\x0aline", "esc\\x1b[31mred", "bad\\xff", "lit\\\\xff"})
    EXPECT_NE(r.out.find(shown), std::string::npos) << shown << " in\n" << r.out.substr(0, 2000);
}

TEST(HostileNames, JsonAndPerfettoCarryEveryNameDecodablyAndUnambiguously) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const std::string dir = (fs::temp_directory_path() / ("aitrace_hostile_" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  const std::string trace = dir + "/t.perfetto-trace";
  std::vector<std::string> argv = {test::aitrace_binary(), "sched", "--by", "thread", "--json", "--trace", trace, "--"};
  const auto cmd = named_threads_command();
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  auto r = test::run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // JSON: the names decode to the kernel's bytes with a backslash doubled and a byte that is not
  // UTF-8 as \xNN; quotes, newlines and ESC are JSON's own escapes.
  const std::vector<std::string> decoded = {"q\"uote\\\\b", "new\nline", "esc\x1b[31mred", "bad\\xff", "lit\\\\xff"};
  auto docs = test::report_documents(r.out);
  ASSERT_FALSE(docs.empty()) << r.out.substr(0, 400);
  std::set<std::string> comms;
  for (const auto& g : docs.back()["groups"]) comms.insert(g["comm"].get<std::string>());
  for (const auto& name : decoded) EXPECT_TRUE(comms.count(name)) << name;

  // Perfetto: the file decodes, every string in it is valid UTF-8, and each name is there in the
  // JSON's form (thread names of the process tree, comms of the switch events).
  perfetto::protos::Trace t;
  ASSERT_TRUE(test::parse_trace_file(trace, &t));
  std::set<std::string> strings;
  for (const auto& p : t.packet()) {
    for (const auto& th : p.process_tree().threads()) strings.insert(th.name());
    for (const auto& e : p.ftrace_events().event()) {
      if (e.has_sched_switch()) {
        strings.insert(e.sched_switch().prev_comm());
        strings.insert(e.sched_switch().next_comm());
      }
      if (e.has_sched_waking()) strings.insert(e.sched_waking().comm());
    }
  }
  for (const auto& s : strings) EXPECT_TRUE(valid_utf8(s)) << "not UTF-8 in the trace: " << s;
  for (const auto& name : decoded) EXPECT_TRUE(strings.count(name)) << name << " is not in the trace";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace aitrace
