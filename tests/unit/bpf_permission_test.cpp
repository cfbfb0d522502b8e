// Why bpf() said EPERM: the cause is chosen from facts, so each cause is driven here with fixed
// facts; tests/e2e/command_privileges_test.cpp checks the seccomp case against a real filter.
#include "aitrace/core/bpf_permission.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

BpfPermissionFacts root_facts() {
  BpfPermissionFacts f;
  f.caps = Capabilities{~0ULL >> 23};  // every capability up to CAP_CHECKPOINT_RESTORE (40)
  f.in_user_namespace = false;
  f.seccomp_mode = 0;
  f.lockdown = "none";
  f.unprivileged_bpf_disabled = 2;
  f.perf_event_paranoid = 2;
  return f;
}

TEST(BpfPermission, ParsesSeccompAndCapabilitiesFromStatus) {
  BpfPermissionFacts f;
  parse_status_facts("Name:\tx\nCapEff:\t000000c000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n", f);
  ASSERT_TRUE(f.caps.has_value());
  const Capabilities caps = f.caps.value_or(Capabilities{});
  EXPECT_TRUE(caps.has(kCapBpf));
  EXPECT_TRUE(caps.has(kCapPerfmon));
  EXPECT_FALSE(caps.has(kCapSysAdmin));
  EXPECT_EQ(f.seccomp_mode, 2);
  EXPECT_EQ(f.seccomp_filters, 3);
  BpfPermissionFacts none;
  parse_status_facts("Name:\tx\n", none);
  EXPECT_FALSE(none.seccomp_mode.has_value());
  EXPECT_FALSE(none.caps.has_value());
}

TEST(BpfPermission, InitialUserNamespaceIsTheIdentityMap) {
  EXPECT_TRUE(uid_map_is_initial("         0          0 4294967295\n"));
  EXPECT_FALSE(uid_map_is_initial("         0       1000          1\n"));
  EXPECT_FALSE(uid_map_is_initial("0 0 4294967295\n1 1 1\n"));
  EXPECT_FALSE(uid_map_is_initial(""));
}

TEST(BpfPermission, SeccompFilterIsNamedWithTheProfileToUse) {
  BpfPermissionFacts f = root_facts();
  f.seccomp_mode = 2;
  f.seccomp_filters = 1;
  BpfDenial d = explain_bpf_denial(f);
  EXPECT_NE(d.cause.find("seccomp filter"), std::string::npos) << d.cause;
  EXPECT_NE(d.fix.find("deploy/seccomp/aitrace.json"), std::string::npos) << d.fix;
}

TEST(BpfPermission, MissingCapabilityComesFirstAndNamesTheSysctl) {
  BpfPermissionFacts f = root_facts();
  f.caps = Capabilities{1ULL << kCapPerfmon};
  f.seccomp_mode = 2;  // a missing capability explains EPERM whatever else is true
  BpfDenial d = explain_bpf_denial(f);
  EXPECT_NE(d.cause.find("lacks CAP_BPF"), std::string::npos) << d.cause;
  EXPECT_NE(d.cause.find("unprivileged_bpf_disabled=2"), std::string::npos) << d.cause;
  EXPECT_EQ(d.cause.find("perf_event_paranoid"), std::string::npos) << d.cause;  // CAP_PERFMON is held
}

TEST(BpfPermission, UserNamespacePointsToBpfTokens) {
  BpfPermissionFacts f = root_facts();
  f.in_user_namespace = true;
  f.seccomp_mode = 2;
  BpfDenial d = explain_bpf_denial(f);
  EXPECT_NE(d.cause.find("user namespace"), std::string::npos) << d.cause;
  EXPECT_NE(d.fix.find("BPF token"), std::string::npos) << d.fix;
  EXPECT_NE(d.fix.find("--bpf-token PATH"), std::string::npos) << d.fix;
}

TEST(BpfPermission, RefusalDespiteATokenNamesItsDelegation) {
  BpfPermissionFacts f = root_facts();
  f.in_user_namespace = true;
  f.token_source = "/run/aitrace/bpffs";
  BpfDenial d = explain_bpf_denial(f);
  EXPECT_NE(d.cause.find("BPF token (from /run/aitrace/bpffs) does not delegate"), std::string::npos) << d.cause;
  EXPECT_NE(d.fix.find("delegate_progs"), std::string::npos) << d.fix;
}

TEST(BpfPermission, LockdownAndOtherwiseAnLsm) {
  BpfPermissionFacts f = root_facts();
  f.lockdown = "confidentiality";
  EXPECT_NE(explain_bpf_denial(f).cause.find("locked down"), std::string::npos);
  f.lockdown = "integrity";
  EXPECT_NE(explain_bpf_denial(f).cause.find("LSM"), std::string::npos);
}

}  // namespace
}  // namespace aitrace
