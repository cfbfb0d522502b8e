// What the hook layer reports must match what the running kernel really has. Each assertion
// compares with kernel_facts.hpp (the kernel's own files); scripts/vmtest runs these on kernels
// where the answers differ, so each side of every comparison is exercised.
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/kernel_floor.hpp"
#include "aitrace/doctor/sysinfo_parse.hpp"
#include "kernel_facts.hpp"
#include "test_support.hpp"

#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <utility>

namespace aitrace {
namespace {

TEST(KernelPortability, KprobeHookWorksExactlyWhereTheKernelHasKprobes) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  const ProbeOutcome& p = test::features().hook_kind(HookKind::kprobe);
  // 6.1 (Debian): kprobes built in; some hosts (this project's 6.18 one) have none.
  EXPECT_EQ(p.works, test::kernel_has_kprobes()) << test::kernel_release() << ": " << p.error;
}

// Every tracepoint a collector names, including those missing on some kernels.
const std::pair<const char*, const char*> kCollectorTracepoints[] = {
    {"sched", "sched_switch"},       {"sched", "sched_wakeup"},         {"sched", "sched_wakeup_new"},
    {"sched", "sched_migrate_task"}, {"sched", "sched_process_fork"},   {"sched", "sched_process_exit"},
    {"sched", "sched_move_numa"},    {"sched", "sched_swap_numa"},      {"sched", "sched_stick_numa"},
    {"migrate", "mm_migrate_pages"}, {"migrate", "mm_migrate_pages_start"},
    {"migrate", "set_migration_pte"}, {"migrate", "remove_migration_pte"},
    {"dma", "dma_map_phys"},         {"dma", "dma_map_page"},           {"dma", "dma_map_sg"},
    {"dma", "dma_unmap_sg"},         {"dma", "dma_alloc"},              {"dma", "dma_free"},
    {"iommu", "map"},                {"iommu", "unmap"},                {"iommu", "io_page_fault"},
    {"swiotlb", "swiotlb_bounced"},  {"dma_fence", "dma_fence_wait_start"}, {"dma_fence", "dma_fence_signaled"},
};

TEST(KernelPortability, TracepointExistenceMatchesTracefs) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  ASSERT_FALSE(test::tracefs_dir().empty()) << "tracefs not mounted";
  for (const auto& [cat, name] : kCollectorTracepoints) {
    bool listed = test::tracefs_lists(cat, name);
    EXPECT_EQ(tracepoint_exists(cat, name), listed) << cat << ":" << name << " on " << test::kernel_release();
    // tp_btf and raw_tp find tracepoints through BTF's btf_trace_<name>; built-in tracepoints
    // have one exactly when tracefs lists them.
    EXPECT_EQ(tracepoint_in_btf(name), listed) << "btf_trace_" << name << " on " << test::kernel_release();
  }
}

TEST(KernelPortability, SchedulerFactsAgreeWithBtf) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // aitrace's EEVDF fields are CO-RE-guarded on sched_entity.deadline: it must exist exactly on
  // the kernels whose /proc/<pid>/sched shows EEVDF's se.slice.
  const btf* b = vmlinux_btf();
  ASSERT_NE(b, nullptr);
  int id = btf__find_by_name_kind(b, "sched_entity", BTF_KIND_STRUCT);
  ASSERT_GT(id, 0);
  const btf_type* t = btf__type_by_id(b, id);
  bool has_deadline = false;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++)
    if (std::string(btf__name_by_offset(b, m->name_off)) == "deadline") has_deadline = true;
  EXPECT_EQ(has_deadline, test::kernel_is_eevdf()) << test::kernel_release();
}

// The release string's version ("6.1.0-27-amd64": 6.1) is at least major.minor.
bool release_at_least(int major, int minor) {
  auto version = parse_release_version(test::kernel_release());
  return version && version->at_least(major, minor);
}

TEST(KernelPortability, FloorProbesAgreeWithTheRelease) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  // BPF atomic fetch-and-add and compare-and-exchange arrived in 5.12, memcg accounting of BPF
  // memory (no more RLIMIT_MEMLOCK) in 5.11.
  EXPECT_EQ(kernel_has_bpf_atomics(), std::optional<bool>(release_at_least(5, 12))) << test::kernel_release();
  EXPECT_EQ(kernel_charges_bpf_to_memlock(), !release_at_least(5, 11)) << test::kernel_release();
  Status floor = check_kernel_floor();
  EXPECT_EQ(floor.ok(), release_at_least(5, 12)) << (floor.ok() ? "" : floor.error().message);
}

}  // namespace
}  // namespace aitrace
