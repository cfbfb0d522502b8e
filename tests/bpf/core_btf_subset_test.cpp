// CO-RE against the subset of the kernel's BTF (core_btf_subset.hpp) must give exactly the
// programs CO-RE against the whole kernel BTF gives (ground truth: libbpf's own relocation with
// the whole BTF). Every object aitrace loads is loaded both ways, and the final instructions
// (what went to the kernel) are compared, map fds aside.
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/core_btf_subset.hpp"
#include "test_support.hpp"

// The ABI structs the skeletons' data sections are made of, before the skeletons.
#include "aitrace/dma_events.h"
#include "aitrace/filter.h"
#include "aitrace/migrate_events.h"
#include "aitrace/offcpu_events.h"
#include "aitrace/sched_events.h"
#include "aitrace/sched_slow_events.h"
#include "aitrace/sched_trace_events.h"

#include "dma.skel.h"
#include "migrate.skel.h"
#include "offcpu.skel.h"
#include "probe.skel.h"
#include "sched.skel.h"
#include "sched_trace.skel.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace aitrace {
namespace {

// A program's instructions after load, with the map fds of ld_imm64 (they differ between two
// loads) zeroed.
std::vector<bpf_insn> final_insns(const bpf_program* p) {
  const bpf_insn* in = bpf_program__insns(p);
  std::vector<bpf_insn> out(in, in + bpf_program__insn_cnt(p));
  for (size_t i = 0; i < out.size(); i++) {
    if (out[i].code != (BPF_LD | BPF_IMM | BPF_DW)) continue;
    const uint8_t src = out[i].src_reg;
    if (src == BPF_PSEUDO_MAP_FD || src == BPF_PSEUDO_MAP_VALUE || src == BPF_PSEUDO_MAP_IDX ||
        src == BPF_PSEUDO_MAP_IDX_VALUE)
      out[i].imm = 0;
    i++;  // the second half: a MAP_VALUE offset stays compared
  }
  return out;
}

std::string text(const std::vector<bpf_insn>& v) {
  std::string s;
  for (const auto& i : v)
    s += fmt::format("{:02x} {}{} {:+d} {:#x}\n", i.code, i.dst_reg, i.src_reg, i.off, static_cast<uint32_t>(i.imm));
  return s;
}

// Which programs a load leaves out: `left_out` by name, and one hook flavour where asked (the
// collectors load one flavour; some kernels refuse a tp_btf twin, e.g. 6.1 for a tracepoint
// with over 5 arguments, and the raw_tp twin is what runs there).
struct LeaveOut {
  std::string name;
  std::string suffix;  // "_btf", "_raw" or ""
  bool operator()(std::string_view prog) const {
    return prog == name || (!suffix.empty() && prog.ends_with(suffix));
  }
};

// Every program the load keeps, by name; empty with `error` set when the load fails.
template <typename Skel>
std::map<std::string, std::vector<bpf_insn>> loaded_programs(const char* what, bool subset, std::string& error,
                                                             const LeaveOut& leave_out) {
  error.clear();
  auto skel = Skel::open(what, subset);
  if (!skel) {
    error = skel.error().message;
    return {};
  }
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, (*skel)->obj) {
    if (leave_out(bpf_program__name(p))) bpf_program__set_autoload(p, false);
  }
  auto loaded = skel->load(what);
  if (!loaded) {
    error = loaded.error().message;
    return {};
  }
  std::map<std::string, std::vector<bpf_insn>> out;
  bpf_object__for_each_program(p, (*skel)->obj) {
    if (bpf_program__fd(p) >= 0) out[bpf_program__name(p)] = final_insns(p);
  }
  return out;
}

// The object gets a subset here, unless it has no CO-RE relocation at all: otherwise the
// comparison below would compare the whole BTF with itself.
void expect_subset(const char* what, const void* elf, size_t size) {
  auto roots = core_relocation_roots(elf, size);
  ASSERT_TRUE(roots) << what;
  if (roots.value().empty()) return;
  EXPECT_NE(CoreBtfFile::for_object(what, elf, size).path(), nullptr) << what << ": no subset on this kernel";
}

// Both flavours first; where this kernel refuses that, each flavour on its own (the collectors
// load one). Every set that loads against the whole BTF must load against the subset too, with
// the same instructions.
template <typename Skel, const void* (*Elf)(size_t*)>
void expect_same_programs(const char* what, const std::string& left_out = "") {
  size_t size = 0;
  const void* elf = Elf(&size);
  expect_subset(what, elf, size);
  int compared = 0;
  std::string refused;
  for (const char* suffix : {"", "_btf", "_raw"}) {
    const LeaveOut leave{left_out, suffix};
    std::string whole_error, subset_error;
    const auto whole = loaded_programs<Skel>(what, false, whole_error, leave);
    if (!whole_error.empty()) {
      refused += fmt::format("\n  leaving out '{}{}': {}", left_out, suffix, whole_error);
      continue;
    }
    const auto subset = loaded_programs<Skel>(what, true, subset_error, leave);
    ASSERT_EQ(subset_error, "") << what << ", leaving out '" << suffix << "'";
    ASSERT_EQ(subset.size(), whole.size()) << what;
    for (const auto& [name, insns] : whole) {
      auto it = subset.find(name);
      ASSERT_NE(it, subset.end()) << what << ": " << name;
      EXPECT_EQ(text(it->second), text(insns)) << what << ": " << name;
    }
    compared += static_cast<int>(whole.size());
    if (suffix[0] == '\0') break;  // both flavours loaded: nothing left to try
  }
  EXPECT_GT(compared, 0) << what << " loads in no form here:" << refused;
}

using SchedSkel = AITRACE_SKELETON_TYPE(sched);
using SchedTraceSkel = AITRACE_SKELETON_TYPE(sched_trace);
using OffcpuSkel = AITRACE_SKELETON_TYPE(offcpu);
using MigrateSkel = AITRACE_SKELETON_TYPE(migrate);
using DmaSkel = AITRACE_SKELETON_TYPE(dma);
using ProbeSkel = AITRACE_SKELETON_TYPE(probe);

TEST(CoreBtfSubset, SchedRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_same_programs<SchedSkel, sched_bpf__elf_bytes>("sched");
}

TEST(CoreBtfSubset, SchedTraceRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_same_programs<SchedTraceSkel, sched_trace_bpf__elf_bytes>("sched_trace");
}

TEST(CoreBtfSubset, OffcpuRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_same_programs<OffcpuSkel, offcpu_bpf__elf_bytes>("offcpu");
}

TEST(CoreBtfSubset, MigrateRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_same_programs<MigrateSkel, migrate_bpf__elf_bytes>("migrate");
}

TEST(CoreBtfSubset, DmaRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  expect_same_programs<DmaSkel, dma_bpf__elf_bytes>("dma");
}

TEST(CoreBtfSubset, ProbeRelocatesAsAgainstTheWholeKernelBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // fentry is refused on some hosts (EPERM on this project's 6.18 one); it relocates nothing.
  expect_same_programs<ProbeSkel, probe_bpf__elf_bytes>("probe", "probe_fentry");
}

}  // namespace
}  // namespace aitrace
