// `aitrace dma` as a user runs it: hook statuses checked against the kernel's own tracefs
// event directories, the JSON contract, -o/-i/-- CMD, and bad input.
#include "aitrace/core/hooks.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <sstream>

namespace aitrace {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Every tracepoint directory of one tracefs event category (the kernel's ground truth).
std::set<std::string> tracefs_events(const std::string& root, const std::string& category) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(root) / "events" / category, ec))
    if (e.is_directory()) out.insert(e.path().filename().string());
  return out;
}

json run_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv{test::aitrace_binary(), "dma"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run_command(argv, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out, nullptr, false);
}

TEST(DmaE2e, dma_hooks_reported_truthfully_against_tracefs) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::string root = tracefs_root();
  ASSERT_FALSE(root.empty()) << "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
  json j = run_json({"-d", "1", "--json"});
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["schema"], "aitrace.dma/2");
  const json& hooks = j["hooks"];
  ASSERT_TRUE(hooks.is_object());
  ASSERT_GE(hooks.size(), 30u);
  for (const auto& [event, state] : hooks.items()) {
    auto colon = event.find(':');
    ASSERT_NE(colon, std::string::npos) << event;
    bool in_tracefs =
        access((root + "/events/" + event.substr(0, colon) + "/" + event.substr(colon + 1)).c_str(), F_OK) == 0;
    // Attached exactly when the kernel has the event; never a failure on this kernel. The states
    // are the envelope's, as in every document: "attached (tp_btf)", "absent: ...".
    EXPECT_EQ(state.get<std::string>().rfind(in_tracefs ? "attached (" : "absent: ", 0), 0u) << event << ": " << state;
  }
  // Every dma, dma_fence and swiotlb event this kernel has is covered, and the IOMMU ones used.
  for (const char* category : {"dma", "dma_fence", "swiotlb"})
    for (const std::string& e : tracefs_events(root, category))
      EXPECT_TRUE(hooks.contains(std::string(category) + ":" + e)) << category << ":" << e << " is not reported";
  for (const char* e : {"map", "unmap", "io_page_fault"})
    if (tracefs_events(root, "iommu").count(e)) {
      EXPECT_EQ(hooks["iommu:" + std::string(e)].get<std::string>().rfind("attached (", 0), 0u) << e;
    }
  // Both names of the 6.18 rename are reported, whichever this kernel has.
  EXPECT_TRUE(hooks.contains("dma:dma_map_phys"));
  EXPECT_TRUE(hooks.contains("dma:dma_map_page"));

  // The rest of the contract is there, losses included.
  for (const char* key : {"devices", "swiotlb", "iommu", "dma_fence", "lost"}) EXPECT_TRUE(j.contains(key)) << key;
  for (const char* key :
       {"unmatched_unmaps", "live_full", "wait_end_unmatched", "fences_full", "sg_walk_truncated", "fork_overflow"})
    EXPECT_TRUE(j["lost"][key].is_number_unsigned()) << key;
  EXPECT_TRUE(j["dma_fence"]["waits"].is_array());
  EXPECT_TRUE(j["iommu"]["map"]["bytes"].is_number_unsigned());
}

TEST(DmaE2e, dma_text_report_names_hooks_and_losses) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "dma", "-d", "500ms"}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hooks attached"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("swiotlb bounce buffers:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dma-fence:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lost: unmatched unmaps"), std::string::npos) << r.out;
  if (!tracepoint_in_tracefs("dma", "dma_map_page")) {
    EXPECT_NE(r.out.find("dma:dma_map_page (absent)"), std::string::npos) << r.out;
  }
}

TEST(DmaE2e, dma_intervals_are_json_lines_then_total_to_file) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  std::string out = fs::temp_directory_path() / ("aitrace-dma-" + std::to_string(getpid()) + ".json");
  fs::remove(out);
  auto r = test::run_command({test::aitrace_binary(), "dma", "-d", "1", "-i", "300ms", "--json", "-o", out},
                             std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["schema"], "aitrace.dma/2");
    EXPECT_EQ(j["interval"], true);
    n++;
  }
  EXPECT_GE(n, 2);
  json total = json::parse(test::read_file(out), nullptr, false);
  ASSERT_FALSE(total.is_discarded());
  EXPECT_EQ(total["interval"], false);
  EXPECT_GE(total["duration_ns"].get<uint64_t>(), 900'000'000u);
  fs::remove(out);
}

TEST(DmaE2e, dma_runs_command_filters_its_fence_waits_and_returns_its_exit_code) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto r = test::run_command({test::aitrace_binary(), "dma", "--json", "--", "sh", "-c", "exit 3"},
                             std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["filter"]["fence_waits"], "the launched command and its children");
  EXPECT_EQ(j["hooks"]["sched:sched_process_fork"].get<std::string>().rfind("attached (", 0), 0u) << j["hooks"];
}

TEST(DmaE2e, dma_bad_input_is_one_line_error) {
  auto r = test::run_command({test::aitrace_binary(), "dma", "-p", "999999999", "-d", "1"}, std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("aitrace: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = test::run_command({test::aitrace_binary(), "dma", "-d", "soon"}, std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("aitrace: ", 0), 0u) << r.err;
}

}  // namespace
}  // namespace aitrace
