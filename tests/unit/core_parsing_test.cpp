#include "aitrace/core/caps.hpp"
#include "aitrace/driver/options.hpp"
#include "aitrace/output/escape.hpp"
#include "aitrace/core/targets.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <future>
#include <thread>

namespace aitrace {
namespace {

TEST(Capabilities, ParsesCapEffFromStatusFixtures) {
  auto root = parse_proc_status_caps(test::read_file(test::test_data("unit/fixtures/status_root.txt")));
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->has(kCapSysAdmin));
  EXPECT_TRUE(check_tracing_capabilities(*root).ok());

  auto user = parse_proc_status_caps(test::read_file(test::test_data("unit/fixtures/status_user.txt")));
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->effective, 0u);
  auto st = check_tracing_capabilities(*user);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "needs CAP_BPF and CAP_PERFMON (have neither); run as root or grant them");

  auto bpf_only = parse_proc_status_caps(test::read_file(test::test_data("unit/fixtures/status_cap_bpf.txt")));
  ASSERT_TRUE(bpf_only.ok());
  EXPECT_TRUE(bpf_only->has(kCapBpf));
  EXPECT_FALSE(bpf_only->has(kCapPerfmon));
  EXPECT_EQ(check_tracing_capabilities(*bpf_only).error().message,
            "needs CAP_BPF and CAP_PERFMON (have CAP_BPF only); run as root or grant them");

  Capabilities both{(1ull << kCapBpf) | (1ull << kCapPerfmon)};
  EXPECT_TRUE(check_tracing_capabilities(both).ok());
  EXPECT_EQ(capability_names(both), "CAP_PERFMON,CAP_BPF");
}

TEST(Capabilities, RejectsMalformedStatus) {
  EXPECT_FALSE(parse_proc_status_caps("Name: x\n").ok());
  EXPECT_FALSE(parse_proc_status_caps("CapEff:\tzz\n").ok());
}

TEST(Durations, AcceptsUnitsAndRejectsGarbage) {
  EXPECT_EQ(parse_duration("10", "d")->count(), 10'000'000'000);
  EXPECT_EQ(parse_duration("1.5s", "d")->count(), 1'500'000'000);
  EXPECT_EQ(parse_duration("250ms", "d")->count(), 250'000'000);
  EXPECT_EQ(parse_duration("2m", "d")->count(), 120'000'000'000);
  for (const char* bad : {"", "abc", "-1", "0", "10x", "5us", "1e30"}) {
    auto r = parse_duration(bad, "duration");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos) << r.error().message;
    }
  }
}

TEST(IdLists, ParsesCommaSeparatedIds) {
  auto ids = parse_id_list("1,22,333", "pid");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<uint32_t>{1, 22, 333}));
  for (const char* bad : {"", ",", "1,,2", "x", "0", "12a", "-3", "1,", "1,2,"}) EXPECT_FALSE(parse_id_list(bad, "pid").ok()) << bad;
}

TEST(Targets, RejectsUnknownPidAndLongComm) {
  TargetSpec s;
  s.pids = {999999999};
  auto r = resolve_targets(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("999999999"), std::string::npos);

  TargetSpec c;
  c.comm = "a-name-longer-than-15";
  EXPECT_FALSE(resolve_targets(c).ok());
}

// -p names processes: a thread id is refused and the message names the process and -t.
TEST(Targets, PidRefusesAThreadIdAndPointsToTid) {
  std::promise<void> release;
  std::promise<uint32_t> started;
  std::thread alive([&] {
    started.set_value(static_cast<uint32_t>(gettid()));
    release.get_future().wait();
  });
  const uint32_t tid = started.get_future().get();
  TargetSpec s;
  s.pids = {tid};
  auto r = resolve_targets(s);
  release.set_value();
  alive.join();
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("is a thread of process " + std::to_string(getpid())), std::string::npos) << m;
  EXPECT_NE(m.find("-t " + std::to_string(tid)), std::string::npos) << m;
}

// Both layouts assert: on a hybrid host (cgroup2 at /sys/fs/cgroup/unified) a v1 path is refused
// naming cgroup v2; where cgroup2 is /sys/fs/cgroup itself (the VM guests) no v1 path exists and the
// same path is an ordinary missing cgroup on the v2 mount.
TEST(Targets, CgroupV1PathNamesCgroupV2) {
  const std::string mnt = cgroup2_mount();
  ASSERT_FALSE(mnt.empty()) << "no cgroup2 mount";
  TargetSpec s;
  s.cgroup = "/sys/fs/cgroup/memory/aitrace-nosuch";
  auto r = resolve_targets(s);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  if (mnt == "/sys/fs/cgroup") {
    EXPECT_NE(m.find("no such cgroup"), std::string::npos) << m;
  } else {
    EXPECT_NE(m.find("cgroup v2"), std::string::npos) << m;
    EXPECT_EQ(m.find("looked for"), std::string::npos) << m;
  }
}

TEST(Targets, CommIsRunningSeesOwnThreadName) {
  char own[16] = {};
  std::ifstream("/proc/self/comm").getline(own, sizeof own);
  EXPECT_TRUE(comm_is_running(own));
  EXPECT_FALSE(comm_is_running("aitrace-nosuch"));
}

TEST(Targets, ResolvesOwnProcessAndCgroup) {
  TargetSpec s;
  s.pids = {static_cast<uint32_t>(getpid())};
  auto r = resolve_targets(s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tgids, std::vector<uint32_t>{static_cast<uint32_t>(getpid())});
  EXPECT_TRUE(r->cfg.by_tgid);
  EXPECT_FALSE(r->whole_system());

  if (!cgroup2_mount().empty()) {
    TargetSpec root;
    root.cgroup = "/";
    auto rc = resolve_targets(root);
    ASSERT_TRUE(rc.ok()) << rc.error().message;
    EXPECT_TRUE(rc->cfg.by_cgroup);
    EXPECT_GT(rc->cfg.cgroup_id, 0u);
    TargetSpec bad;
    bad.cgroup = "/no/such/cgroup/here";
    EXPECT_FALSE(resolve_targets(bad).ok());
  }
}

TEST(Escape, TextEscapesControlAndNonAscii) {
  EXPECT_EQ(escape_text("python3"), "python3");
  EXPECT_EQ(escape_text("a\nb"), "a\\x0ab");
  EXPECT_EQ(escape_text("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(escape_text("back\\slash"), "back\\\\slash");
  EXPECT_EQ(escape_text("caf\xc3\xa9"), "caf\\xc3\\xa9");
}

TEST(Escape, Utf8SanitizerKeepsValidAndEscapesInvalid) {
  EXPECT_EQ(sanitize_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(sanitize_utf8("bad\xff"), "bad\\xff");
  EXPECT_EQ(sanitize_utf8("lit\\xff"), "lit\\\\xff") << "a literal \\xff is not a 0xff byte";
  EXPECT_EQ(sanitize_utf8("back\\slash"), "back\\\\slash");
  EXPECT_EQ(sanitize_utf8("\xc3"), "\\xc3");
  // What JSON writers reject must never pass: surrogates, F5+, overlongs, > U+10FFFF.
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80x"), "\\xed\\xa0\\x80x");
  EXPECT_EQ(sanitize_utf8("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
  EXPECT_EQ(sanitize_utf8("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(sanitize_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // U+1F600 stays
  for (const char* raw : {"\xed\xa0\x80", "\xf5\x80", "\xc0\xaf", "\xff\xfe"}) {
    nlohmann::json j = {{"comm", sanitize_utf8(raw)}};
    EXPECT_NO_THROW(j.dump()) << raw;
  }
  nlohmann::json raw_bad = {{"comm", std::string("\xed\xa0\x80")}};
  EXPECT_NO_THROW(json_text(raw_bad));
  const char comm[16] = {'a', 'b', 0, 'x'};
  EXPECT_EQ(kernel_string(comm, sizeof(comm)), "ab");
}

}  // namespace
}  // namespace aitrace
