// Parsers behind `aitrace doctor`, fed with fixture files (tests/unit/fixtures/).
#include "aitrace/doctor/doctor.hpp"
#include "aitrace/doctor/sysinfo_parse.hpp"
#include "aitrace/driver/registration.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace aitrace {
namespace {

std::string fixture(const std::string& name) { return test::test_data("unit/fixtures/" + name); }
std::string text_of(const std::string& name) { return test::read_file(fixture(name)); }
std::vector<int> nodes(std::string_view text) {
  auto r = parse_node_list(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r.value() : std::vector<int>{};
}

TEST(KernelConfig, ReadsHzAndNotSetOptions) {
  auto text = read_text_file(fixture("config_hz250.txt"));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_HZ"), "250");
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_HZ_250"), "y");
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_KPROBES"), "n");
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_LSM"), "\"landlock,lockdown,yama,bpf\"");
  // A key is not matched by a longer key that starts with it, nor by a comment about another.
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_HZ_1000"), "n");
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_NO_SUCH_OPTION"), std::nullopt);
  EXPECT_EQ(kernel_config_value("CONFIG_HZ_250=y\n", "CONFIG_HZ"), std::nullopt);
}

TEST(KernelConfig, ReadsGzipLikeProcConfigGz) {
  auto text = read_gzip_file(fixture("config_hz1000.gz"));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_HZ"), "1000");
  EXPECT_EQ(kernel_config_value(*text, "CONFIG_KPROBES"), "y");

  auto truncated = read_gzip_file(fixture("config_truncated.gz"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("config_truncated.gz"), std::string::npos) << truncated.error().message;

  auto missing = read_gzip_file(fixture("no_such_config.gz"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos) << missing.error().message;
}

TEST(NodeLists, ParsesRangesAndSingles) {
  EXPECT_EQ(nodes("0-3,5\n"), (std::vector<int>{0, 1, 2, 3, 5}));
  EXPECT_EQ(nodes("0"), (std::vector<int>{0}));
  EXPECT_EQ(nodes("\n"), (std::vector<int>{}));
  EXPECT_EQ(nodes("2,0-1"), (std::vector<int>{0, 1, 2}));
  for (const char* bad : {"a", "1-", "-1", "3-1", "1,,2", "0-99999999"}) EXPECT_FALSE(parse_node_list(bad).ok()) << bad;
  EXPECT_EQ(format_node_list({0, 1, 2, 3, 5}), "0-3,5");
  EXPECT_EQ(format_node_list({4}), "4");
  EXPECT_EQ(format_node_list({}), "");
}

TEST(SelectedChoice, ReadsTheBracketedThpValue) {
  EXPECT_EQ(parse_selected_choice(text_of("thp_enabled.txt")), "madvise");
  EXPECT_EQ(parse_selected_choice(text_of("thp_defrag.txt")), "madvise");
  EXPECT_EQ(parse_selected_choice(text_of("thp_shmem_enabled.txt")), "never");
  EXPECT_EQ(parse_selected_choice("[always] madvise never"), "always");
  EXPECT_EQ(parse_selected_choice("always madvise never"), std::nullopt);
  EXPECT_EQ(parse_selected_choice("always [] never"), std::nullopt);
}

TEST(Mountinfo, HybridLayoutFromV1AndV2Mounts) {
  auto mounts = parse_mountinfo(text_of("mountinfo_hybrid.txt"));
  ASSERT_EQ(mounts.size(), 7u);
  EXPECT_EQ(mounts[3].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(mounts[3].fstype, "cgroup");  // after the optional "shared:11" field
  CgroupLayout c = cgroup_layout(mounts);
  EXPECT_EQ(c.mode, "hybrid");
  EXPECT_EQ(c.v2_mounts, (std::vector<std::string>{"/sys/fs/cgroup/unified"}));
  ASSERT_EQ(c.v1.size(), 3u);
  EXPECT_EQ(c.v1[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(c.v1[1].controllers, (std::vector<std::string>{"memory"}));
  EXPECT_EQ(c.v1[2].controllers, (std::vector<std::string>{"name=systemd"}));  // xattr is a flag
}

TEST(Mountinfo, UnifiedLayoutAndEscapedMountPoints) {
  auto mounts = parse_mountinfo(text_of("mountinfo_unified.txt"));
  CgroupLayout c = cgroup_layout(mounts);
  EXPECT_EQ(c.mode, "unified");
  EXPECT_EQ(c.v2_mounts, (std::vector<std::string>{"/sys/fs/cgroup", "/mnt/my data"}));
  EXPECT_TRUE(c.v1.empty());
}

TEST(Mountinfo, LegacyAndNone) {
  CgroupLayout legacy = cgroup_layout(parse_mountinfo(text_of("mountinfo_legacy.txt")));
  EXPECT_EQ(legacy.mode, "legacy");
  ASSERT_EQ(legacy.v1.size(), 2u);
  EXPECT_EQ(legacy.v1[1].controllers, (std::vector<std::string>{"memory"}));  // release_agent dropped
  EXPECT_EQ(cgroup_layout(parse_mountinfo("22 27 0:21 / /proc rw - proc proc rw\n")).mode, "none");
  EXPECT_TRUE(parse_mountinfo("garbage line\n\n").empty());
}

TEST(ProcSched, ReadsSliceInNanoseconds) {
  std::string text = text_of("proc_sched_eevdf.txt");
  EXPECT_EQ(parse_proc_sched_ns(text, "se.slice"), 1400000);
  EXPECT_EQ(parse_proc_sched_ns(text, "se.sum_exec_runtime"), 3141592);  // "3.141592" ms
  EXPECT_EQ(parse_proc_sched_ns(text, "se.deadline"), std::nullopt);
  EXPECT_EQ(parse_proc_sched_ns("se.slice : 1.5\n", "se.slice"), std::nullopt);
}

TEST(TracepointCatalog, ListsEveryCollectorOnceAndEachEventOnce) {
  std::set<std::string_view> collectors;
  for (const auto& c : collector_catalog()) {
    EXPECT_TRUE(collectors.insert(c.collector).second) << c.collector;
    EXPECT_FALSE(c.events.empty()) << c.collector;
    std::set<std::string> names;
    for (const auto& e : c.events)
      for (auto n : e.names) EXPECT_TRUE(names.insert(std::string(e.category) + ":" + std::string(n)).second) << n;
  }
  EXPECT_EQ(collectors, (std::set<std::string_view>{"sched", "sched_trace", "migrate", "dma", "offcpu"}));
}

TEST(DoctorRender, EscapesSystemStringsInTextAndJson) {
  DoctorReport r;
  r.sections.push_back({"isolation", "Cgroups", {}});
  Finding& f = r.sections.back().add("own_cgroup_v2", "own cgroup v2");
  f.value = std::string("/evil\x1b[2J\xff");
  f.remark = "remark";
  std::string text = doctor_text(r);
  EXPECT_NE(text.find("/evil\\x1b[2J\\xff"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  auto j = nlohmann::json::parse(doctor_json(r));
  EXPECT_EQ(j["schema"], "aitrace.doctor/1");
  EXPECT_EQ(j["isolation"]["own_cgroup_v2"]["value"], "/evil\x1b[2J\\xff");
  EXPECT_EQ(j["isolation"]["own_cgroup_v2"]["status"], "info");

  Finding& u = r.sections.back().add_unknown("lockdown", "lockdown", "securityfs not mounted");
  u.value = "ignored";
  j = nlohmann::json::parse(doctor_json(r));
  EXPECT_TRUE(j["isolation"]["lockdown"]["value"].is_null());
  EXPECT_EQ(j["isolation"]["lockdown"]["status"], "unknown");
  EXPECT_EQ(j["isolation"]["lockdown"]["unknown"], "securityfs not mounted");
  EXPECT_NE(doctor_text(r).find("unknown: securityfs not mounted"), std::string::npos);
}

}  // namespace
}  // namespace aitrace
