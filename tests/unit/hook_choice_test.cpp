// The hook fallback rule (tp_btf -> raw_tp -> tracepoint) decided from a KernelFeatures alone:
// the kernels the rule is for (no BTF prototype, no tracefs, a hook type the kernel refuses) are
// described by fixed answers, so every branch runs on any host.
#include "aitrace/core/hooks.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace aitrace {
namespace {

class FixedFeatures final : public KernelFeatures {
 public:
  std::set<HookKind> working = {HookKind::tp_btf, HookKind::raw_tp, HookKind::tracepoint};
  std::set<std::string> in_btf = {"sched_switch"}, in_tracefs = {"sched/sched_switch"};
  std::string tracefs_error;

  const ProbeOutcome& hook_kind(HookKind k) const override {
    auto& o = outcomes_[k];
    o.works = working.count(k) > 0;
    o.error = o.works ? "" : std::string("load: Operation not permitted (EPERM)");
    return o;
  }
  bool tracepoint_in_btf(std::string_view name) const override { return in_btf.count(std::string(name)) > 0; }
  bool tracepoint_in_tracefs(std::string_view category, std::string_view name) const override {
    return in_tracefs.count(std::string(category) + "/" + std::string(name)) > 0;
  }
  bool task_storage() const override { return true; }
  std::string tracefs_problem() const override { return tracefs_error; }

 private:
  mutable std::map<HookKind, ProbeOutcome> outcomes_;
};

// NOLINTNEXTLINE(bugprone-throwing-static-initialization): bad_alloc before main() fails the tests anyway
const std::vector<HookKind> kAll = {HookKind::tp_btf, HookKind::raw_tp, HookKind::tracepoint};

TEST(HookChoice, TakesTheFirstKindThatWorks) {
  FixedFeatures f;
  HookChoice c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::tp_btf);
  EXPECT_EQ(c.reasons, "");
}

TEST(HookChoice, WithoutTheBtfPrototypeFallsBackToTheClassicTracepoint) {
  // A module's tracepoint, or a kernel without BTF for it: tp_btf and raw_tp cannot find it.
  FixedFeatures f;
  f.in_btf.clear();
  HookChoice c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::raw_tp) << "raw_tp attaches by name: tracefs presence is enough";
  f.working.erase(HookKind::raw_tp);
  c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::tracepoint);
  EXPECT_NE(c.reasons.find("tp_btf: no such tracepoint in this kernel"), std::string::npos) << c.reasons;
  EXPECT_NE(c.reasons.find("raw_tp: load: Operation not permitted (EPERM)"), std::string::npos) << c.reasons;
}

TEST(HookChoice, ARefusedHookTypeIsSkippedWithTheKernelsReason) {
  FixedFeatures f;
  f.working.erase(HookKind::tp_btf);
  HookChoice c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::raw_tp);
  EXPECT_EQ(c.reasons, "tp_btf: load: Operation not permitted (EPERM)");
}

TEST(HookChoice, NothingWorksGivesEveryReasonAndNoPick) {
  FixedFeatures f;
  f.in_btf.clear();
  f.in_tracefs.clear();
  f.tracefs_error = "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
  HookChoice c = choose_hook(f, "sched", "sched_switch", kAll);
  EXPECT_FALSE(c.index);
  EXPECT_EQ(c.reasons,
            "tp_btf: no such tracepoint in this kernel; raw_tp: no such tracepoint in this kernel; "
            "tracepoint: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)");
}

TEST(HookChoice, APreferredKindIsTriedFirstButStillMustWork) {
  FixedFeatures f;
  f.preferred = HookKind::tracepoint;
  HookChoice c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::tracepoint);
  // Preferred but refused: the usual order takes over, and the refusal is in the reasons.
  f.working.erase(HookKind::tracepoint);
  c = choose_hook(f, "sched", "sched_switch", kAll);
  ASSERT_TRUE(c.index);
  EXPECT_EQ(kAll[c.index.value()], HookKind::tp_btf);
  EXPECT_EQ(c.reasons, "tracepoint: load: Operation not permitted (EPERM)");
  // A preference the hook does not offer changes nothing.
  f.preferred = HookKind::kprobe;
  c = choose_hook(f, "sched", "sched_switch", {HookKind::raw_tp});
  ASSERT_TRUE(c.index);
  EXPECT_EQ(c.index.value(), 0u);
}

}  // namespace
}  // namespace aitrace
