// No program on the switch path calls the generic bpf_map_lookup_elem helper. Where the verifier
// knows which map a lookup call site sees, it inlines the lookup (arrays, per-CPU arrays on 6.10
// and later) or calls the map type's own function; the generic helper, an indirect call through
// the map's ops, stays only where one call site can see two maps. clang makes such sites when it
// merges two lookups that differ only in the map (slot_totals() in bpf/sched_groups.bpf.h needed
// a barrier against it): that build cost 1.27 times the one before per switch on the pinned pipe.
// This holds on every kernel: without inlining the call is still to the map type's function.
#include "aitrace/offcpu/offcpu_collector.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "test_support.hpp"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace aitrace {
namespace {

// The address of each of `names` in /proc/kallsyms (0 where hidden by kptr_restrict or absent).
std::map<std::string, uint64_t> kernel_symbols(const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> out;
  for (const auto& n : names) out[n] = 0;
  std::ifstream in("/proc/kallsyms");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string addr, type, name;
    if (!(fields >> addr >> type >> name)) continue;
    auto it = out.find(name);
    if (it != out.end() && it->second == 0) it->second = std::stoull(addr, nullptr, 16);
  }
  return out;
}

// The xlated imm of a call to the generic lookup helper: the verifier writes a helper call as the
// helper's address less __bpf_call_base. Empty where the addresses are hidden or the JIT is off
// or absent (the interpreter keeps every call generic).
std::optional<int32_t> generic_lookup_imm() {
  const std::string jit = test::read_file("/proc/sys/net/core/bpf_jit_enable");
  if (jit.empty() || jit.starts_with("0")) return std::nullopt;
  auto syms = kernel_symbols({"__bpf_call_base", "bpf_map_lookup_elem"});
  const uint64_t base = syms["__bpf_call_base"], lookup = syms["bpf_map_lookup_elem"];
  if (!base || !lookup) return std::nullopt;
  return static_cast<int32_t>(static_cast<int64_t>(lookup - base));
}

// Each program this process holds, by name, with its count of calls to the generic lookup.
std::map<std::string, int> generic_lookup_calls(int32_t imm) {
  std::map<std::string, int> out;
  for (const int fd : test::own_prog_fds()) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    std::vector<bpf_insn> insns(info.xlated_prog_len / sizeof(bpf_insn));
    const std::string name = info.name;
    info = bpf_prog_info{};
    info.xlated_prog_len = static_cast<uint32_t>(insns.size() * sizeof(bpf_insn));
    info.xlated_prog_insns = reinterpret_cast<uintptr_t>(insns.data());
    len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      out[name] = -1;  // unreadable: reported as a failure below
      continue;
    }
    int calls = 0;
    for (const bpf_insn& i : insns)
      calls += i.code == (BPF_JMP | BPF_CALL) && i.src_reg == 0 && i.imm == imm;
    out[name] += calls;
  }
  return out;
}

void expect_no_generic_lookup(int32_t imm, const std::string& what) {
  const auto calls = generic_lookup_calls(imm);
  EXPECT_FALSE(calls.empty()) << what << ": no program loaded";
  for (const auto& [prog, n] : calls) EXPECT_EQ(n, 0) << what << ": " << prog;
}

class LookupCalls : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    AITRACE_REQUIRE_BPF_OR_SKIP();
    auto imm = generic_lookup_imm();
    if (!imm) AITRACE_REQUIRE_ENV_OR_SKIP("kernel symbol addresses hidden, or the BPF JIT is off");
    imm_ = *imm;
  }
  int32_t imm_ = 0;
};

TEST_P(LookupCalls, NoSchedProgramCallsTheGenericMapLookup) {
  struct Case {
    SchedGroupBy by;
    SchedClock clock;
    uint32_t dense;
  };
  // Dense and sparse slots both present (slot_totals() chooses between two maps); by thread with
  // and without threads' own storage (task_state_get() chooses between two storage maps).
  for (const Case& k : {Case{SchedGroupBy::process, SchedClock::wall, AITRACE_SCHED_DEFAULT_DENSE_GROUPS},
                        Case{SchedGroupBy::process, SchedClock::rq, 2}, Case{SchedGroupBy::thread, SchedClock::wall, 2},
                        Case{SchedGroupBy::cgroup, SchedClock::wall, 2}, Case{SchedGroupBy::none, SchedClock::wall, 2}}) {
    for (uint32_t rows : {uint32_t{AITRACE_SCHED_THREAD_ROWS}, 0u}) {
      if (rows == 0 && k.by != SchedGroupBy::thread) continue;
      SchedConfig cfg;
      cfg.group_by = k.by;
      cfg.clock = k.clock;
      cfg.dense_groups = k.dense;
      cfg.thread_rows = rows;
      const std::string what = std::string(sched_group_by_name(k.by)) + (k.clock == SchedClock::rq ? " rq" : " wall") +
                               " dense " + std::to_string(k.dense) + " rows " + std::to_string(rows);
      auto c = SchedCollector::open(cfg, test::features(GetParam()));
      if (!c && k.clock == SchedClock::rq) continue;  // the rq clock needs CONFIG_FAIR_GROUP_SCHED
      ASSERT_TRUE(c.ok()) << what << ": " << c.error().message;
      auto st = c->load();
      ASSERT_TRUE(st.ok()) << what << ": " << st.error().message;
      expect_no_generic_lookup(imm_, what);
    }
  }
}

TEST_P(LookupCalls, NoOffcpuProgramCallsTheGenericMapLookup) {
  for (bool wakers : {false, true}) {
    OffcpuConfig cfg;
    cfg.wakers = wakers;
    TargetSpec spec;
    spec.pids = {static_cast<uint32_t>(getpid())};
    auto targets = resolve_targets(spec);
    ASSERT_TRUE(targets.ok()) << targets.error().message;
    auto c = OffcpuCollector::load(cfg, *targets, test::features(GetParam()));
    ASSERT_TRUE(c.ok()) << c.error().message;
    expect_no_generic_lookup(imm_, wakers ? "offcpu --wakers" : "offcpu");
  }
}

INSTANTIATE_TEST_SUITE_P(Flavours, LookupCalls, ::testing::Values("tp_btf", "raw_tp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace aitrace
