// Hook probing and selection on the real kernel: what loads, what attaches, what falls back.
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/ring_reader.hpp"
#include "probe.skel.h"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <thread>

namespace aitrace {
namespace {

using ProbeSkeleton = AITRACE_SKELETON_TYPE(probe);

// Causes context switches so sched_switch programs run.
void cause_switches() {
  for (int i = 0; i < 50; i++) usleep(200);
}

TEST(HookProbe, TracepointFlavorsLoadAndAttachHere) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // Every kernel at aitrace's floor (5.12 + BTF) has all three tracepoint flavours.
  for (HookKind k : {HookKind::tp_btf, HookKind::raw_tp, HookKind::tracepoint, HookKind::ringbuf, HookKind::uprobe}) {
    const ProbeOutcome& p = test::features().hook_kind(k);
    EXPECT_TRUE(p.works) << hook_kind_name(k) << ": " << p.error;
  }
}

TEST(HookProbe, FailuresCarryTheKernelsReason) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // Whatever fentry/kprobe do on this kernel, a failure names the step and the errno.
  for (HookKind k : {HookKind::fentry, HookKind::kprobe}) {
    const ProbeOutcome& p = test::features().hook_kind(k);
    if (!p.works) {
      EXPECT_TRUE(p.error.rfind("load: ", 0) == 0 || p.error.rfind("attach: ", 0) == 0) << p.error;
      EXPECT_NE(p.error.find("(E"), std::string::npos) << p.error;
    }
  }
}

class HookSetTest : public ::testing::TestWithParam<const char*> {};

TEST_P(HookSetTest, SelectsAttachesAndCountsRealEvents) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto skel = ProbeSkeleton::open("probe");
  ASSERT_TRUE(skel.ok()) << skel.error().message;
  auto* s = skel->get();
  // Only the sched_switch candidates below take part; the rest stays unloaded.
  for (bpf_program* p : {s->progs.probe_fentry, s->progs.probe_kprobe, s->progs.probe_uprobe, s->progs.probe_ringbuf})
    bpf_program__set_autoload(p, false);
  const auto& features = test::features(GetParam());
  HookSet hooks;
  hooks.add(features, "sched", "sched_switch",
            {{HookKind::tp_btf, s->progs.probe_tp_btf},
             {HookKind::raw_tp, s->progs.probe_raw_tp},
             {HookKind::tracepoint, s->progs.probe_tracepoint}});
  hooks.add(features, "sched", "no_such_tracepoint_xyz", {{HookKind::raw_tp, s->progs.probe_fentry}});
  ASSERT_TRUE(skel->load("probe").ok());
  hooks.attach_all();

  const HookStatus* sw = hooks.status("sched:sched_switch");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->state, HookStatus::State::attached) << sw->state_text();
  ASSERT_TRUE(sw->kind.has_value());
  EXPECT_STREQ(hook_kind_name(sw->kind.value()), GetParam());
  EXPECT_EQ(sw->state_text(), std::string("attached (") + GetParam() + ")");

  const HookStatus* missing = hooks.status("sched:no_such_tracepoint_xyz");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->state, HookStatus::State::absent);
  EXPECT_NE(missing->detail.find("no such tracepoint"), std::string::npos) << missing->detail;
  EXPECT_EQ(hooks.attached_count(), 1u);

  cause_switches();
  // One snapshot: the program is still attached and counting while we read.
  uint64_t tp_btf = s->bss->hits_tp_btf, raw_tp = s->bss->hits_raw_tp, tracepoint = s->bss->hits_tracepoint;
  uint64_t hits = tp_btf + raw_tp + tracepoint;
  EXPECT_GT(hits, 0u);
  // Only the chosen flavour ran.
  EXPECT_EQ(hits, std::string(GetParam()) == "tp_btf"   ? tp_btf
                  : std::string(GetParam()) == "raw_tp" ? raw_tp
                                                        : tracepoint);
  hooks.detach_all();
  uint64_t after = s->bss->hits_tp_btf + s->bss->hits_raw_tp + s->bss->hits_tracepoint;
  cause_switches();
  EXPECT_EQ(after, s->bss->hits_tp_btf + s->bss->hits_raw_tp + s->bss->hits_tracepoint) << "still attached";
}

INSTANTIATE_TEST_SUITE_P(Flavors, HookSetTest, ::testing::Values("tp_btf", "raw_tp", "tracepoint"));

TEST(RingReader, ReceivesEveryRecordTheProgramSubmits) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto skel = ProbeSkeleton::open("probe");
  ASSERT_TRUE(skel.ok());
  auto* s = skel->get();
  bpf_program* p;
  bpf_object__for_each_program(p, s->obj) bpf_program__set_autoload(p, p == s->progs.probe_ringbuf);
  ASSERT_TRUE(skel->load("probe").ok());
  uint64_t records = 0, last_ts = 0, bad_sizes = 0;
  RingReader reader([&](std::span<const std::byte> rec) {
    uint64_t ts;
    if (rec.size() != sizeof(ts)) {
      bad_sizes++;
      return;
    }
    std::memcpy(&ts, rec.data(), sizeof(ts));
    records++;
    last_ts = ts;
  });
  ASSERT_TRUE(reader.add(bpf_map__fd(s->maps.probe_ring)).ok());
  Link link(bpf_program__attach(s->progs.probe_ringbuf));
  ASSERT_NE(link.get(), nullptr);
  for (int i = 0; i < 20; i++) {
    cause_switches();
    ASSERT_TRUE(reader.poll(10).ok());
  }
  link.reset();
  ASSERT_TRUE(reader.drain().ok());
  EXPECT_GT(records, 0u);
  EXPECT_EQ(bad_sizes, 0u);
  EXPECT_GT(last_ts, 0u);
  EXPECT_EQ(records, s->bss->ringbuf_submitted);  // every submitted record was read, none twice
  EXPECT_EQ(reader.consumed(), records);
}

}  // namespace
}  // namespace aitrace
