// The dma handlers in the real kernel, driven with BPF_PROG_TEST_RUN and synthetic tracepoint
// arguments (this VM has the dma/iommu/swiotlb/dma_fence tracepoints but no DMA traffic).
//
// Pointer arguments: a made-up value (0x1000) stands for a device whose memory cannot be read;
// for the CO-RE reads (device names, scatterlists, fences) the test builds fake kernel objects
// in real kernel memory, the .bss of a test-only object (tests/bpf/kernel_scratch.bpf.c), laid
// out with the running kernel's BTF.
#include "aitrace/dma/dma.hpp"
#include "aitrace/dma/dma_metrics.hpp"
#include "aitrace/dma/dma_report.hpp"
#include "aitrace/core/hooks.hpp"
#include "dma.skel.h"
#include "kernel_scratch.skel.h"
#include "test_support.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <thread>

namespace aitrace {
namespace {

using DmaSkeleton = AITRACE_SKELETON_TYPE(dma);
using ScratchSkeleton = AITRACE_SKELETON_TYPE(kernel_scratch);

constexpr uint64_t kToDevice = 1, kFromDevice = 2, kBidirectional = 0;
constexpr uint64_t kFakeDev = 0x1000;  // not kernel memory: its name reads as empty

const btf_type* resolved(const btf* b, uint32_t id) {
  const btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t))) t = btf__type_by_id(b, t->type);
  return t;
}

// Finds `name` among t's members, looking inside anonymous structs/unions too.
bool find_member(const btf* b, const btf_type* t, const char* name, size_t& bits, uint32_t& type_id) {
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    const char* mn = btf__name_by_offset(b, m->name_off);
    size_t off = btf_member_bit_offset(t, i);
    if (mn && std::strcmp(mn, name) == 0) {
      bits += off;
      type_id = m->type;
      return true;
    }
    const btf_type* mt = resolved(b, m->type);
    if ((!mn || !*mn) && mt && (btf_is_struct(mt) || btf_is_union(mt))) {
      size_t inner = bits + off;
      if (find_member(b, mt, name, inner, type_id)) {
        bits = inner;
        return true;
      }
    }
  }
  return false;
}

// Byte offset of a member path ({"kobj", "name"}) inside `struct type` on this kernel.
size_t offset_of(const char* type, std::initializer_list<const char*> path) {
  const btf* b = vmlinux_btf();
  int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
  EXPECT_GT(id, 0) << type;
  const btf_type* t = btf__type_by_id(b, id);
  size_t bits = 0;
  for (const char* name : path) {
    uint32_t tid = 0;
    bool found = t && find_member(b, t, name, bits, tid);
    EXPECT_TRUE(found) << type << "." << name;
    if (!found) return 0;
    t = resolved(b, tid);
  }
  return bits / 8;
}

int prctl_comm(char* out) { return prctl(PR_GET_NAME, out); }

size_t size_of(const char* type) {
  const btf* b = vmlinux_btf();
  int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
  return id > 0 ? static_cast<size_t>(btf__resolve_size(b, id)) : 0;
}

class DmaBpf : public ::testing::Test {
 protected:
  void SetUp() override { AITRACE_REQUIRE_BPF_OR_SKIP(); }

  void load(uint32_t live_max = 0, const std::function<void(dma_bpf*)>& before = {}) {
    auto s = DmaSkeleton::open("dma");
    ASSERT_TRUE(s.ok()) << s.error().message;
    skel_ = std::move(*s);
    configure_dma_for_kernel(skel_.get());
    if (live_max) {
      ASSERT_EQ(bpf_map__set_max_entries(skel_->maps.dma_live, live_max), 0);
    }
    if (before) before(skel_.get());
    // Every program loads (raw_tp programs load whether or not their tracepoint exists); none
    // is attached, so only the test runs below feed them.
    auto st = skel_.load("dma");
    ASSERT_TRUE(st.ok()) << st.error().message;
    if (!scratch_) {
      auto k = ScratchSkeleton::open("kernel_scratch");
      ASSERT_TRUE(k.ok()) << k.error().message;
      kmem_ = std::move(*k);
      auto kst = kmem_.load("kernel_scratch");
      ASSERT_TRUE(kst.ok()) << kst.error().message;
      run(kmem_->progs.report_scratch_addr, {});
      scratch_ = kmem_->bss->scratch_addr;
      ASSERT_NE(scratch_, 0u);
    }
  }

  void run(bpf_program* p, const std::vector<uint64_t>& args) {
    ASSERT_EQ(test::run_raw_tp(bpf_program__fd(p), args), 0) << bpf_program__name(p);
  }

  DmaSnapshot snap() {
    auto s = read_dma_snapshot(skel_.get(), false);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : DmaSnapshot{};
  }

  // Fake kernel objects: `off` bytes into the scratch object's .bss buffer.
  uint64_t kaddr(size_t off) const { return scratch_ + off; }
  uint8_t* scratch() const { return kmem_->bss->scratch; }
  void put(size_t off, const void* p, size_t n) {
    ASSERT_LE(off + n, sizeof(kmem_->bss->scratch));
    std::memcpy(scratch() + off, p, n);
  }
  void put_u64(size_t off, uint64_t v) { put(off, &v, sizeof(v)); }
  void put_u32(size_t off, uint32_t v) { put(off, &v, sizeof(v)); }
  void put_str(size_t off, const char* s) { put(off, s, std::strlen(s) + 1); }

  // A struct device named `name` bound to a driver named `driver`, at offset 0.
  uint64_t fake_device(const char* name, const char* driver) {
    size_t dev_size = size_of("device");
    EXPECT_GT(dev_size, 0u);
    size_t drv = dev_size, strings = dev_size + size_of("device_driver");
    put_u64(offset_of("device", {"kobj", "name"}), kaddr(strings));
    put_u64(offset_of("device", {"init_name"}), 0);
    put_u64(offset_of("device", {"driver"}), kaddr(drv));
    put_u64(drv + offset_of("device_driver", {"name"}), kaddr(strings + 64));
    put_str(strings, name);
    put_str(strings + 64, driver);
    next_free_ = strings + 128;
    return kaddr(0);
  }

  // A scatterlist at `off`: {length, dma_length, page_link flags} per entry.
  struct Entry {
    uint32_t length, dma_length;
    uint64_t page_link;
  };
  void fake_sg(size_t off, std::initializer_list<Entry> entries) {
    size_t sz = size_of("scatterlist");
    size_t i = 0;
    for (const Entry& e : entries) {
      put_u64(off + i * sz + offset_of("scatterlist", {"page_link"}), e.page_link);
      put_u32(off + i * sz + offset_of("scatterlist", {"length"}), e.length);
      put_u32(off + i * sz + offset_of("scatterlist", {"dma_length"}), e.dma_length);
      i++;
    }
  }

  static uint64_t dir_count(const DmaSnapshot& s, uint64_t dev, uint64_t dir, __u64 aitrace_dma_dir_stats::*f) {
    auto it = s.devices.find(dev);
    return it == s.devices.end() ? 0 : it->second.dirs[dir].*f;
  }

  DmaSkeleton skel_;
  ScratchSkeleton kmem_;
  uint64_t scratch_ = 0;
  size_t next_free_ = 0;
};

TEST_F(DmaBpf, counts_dma_map_bytes_per_device_and_direction) {
  load();
  auto* p = skel_->progs.dma_map_phys;
  uint64_t dev = fake_device("0000:3b:00.0", "nvidia");
  // (dev, phys, dma, size, dir, attrs)
  run(p, {dev, 0x100000, 0xa000, 4096, kToDevice, 0});
  run(p, {dev, 0x200000, 0xb000, 4096, kToDevice, 0});
  run(p, {dev, 0x300000, 0xc000, 8192, kFromDevice, 0});
  run(p, {dev, 0x400000, ~0ull /* DMA_MAPPING_ERROR */, 512, kFromDevice, 0});
  run(p, {kFakeDev, 0x500000, 0xd000, 100, kBidirectional, 0});

  DmaSnapshot s = snap();
  ASSERT_EQ(s.devices.size(), 2u);
  EXPECT_EQ(s.devices[dev].name, "0000:3b:00.0");
  EXPECT_EQ(s.devices[dev].driver, "nvidia");
  EXPECT_EQ(s.devices[kFakeDev].name, "");  // unreadable pointer: empty, shown as "?"
  EXPECT_EQ(dir_count(s, dev, kToDevice, &aitrace_dma_dir_stats::map_count), 2u);
  EXPECT_EQ(dir_count(s, dev, kToDevice, &aitrace_dma_dir_stats::map_bytes), 8192u);
  EXPECT_EQ(dir_count(s, dev, kFromDevice, &aitrace_dma_dir_stats::map_count), 1u);
  EXPECT_EQ(dir_count(s, dev, kFromDevice, &aitrace_dma_dir_stats::map_bytes), 8192u);
  EXPECT_EQ(dir_count(s, dev, kFromDevice, &aitrace_dma_dir_stats::map_errors), 1u);
  EXPECT_EQ(dir_count(s, dev, kBidirectional, &aitrace_dma_dir_stats::map_count), 0u);
  EXPECT_EQ(dir_count(s, kFakeDev, kBidirectional, &aitrace_dma_dir_stats::map_bytes), 100u);

  // The same numbers reach the JSON report.
  DmaReport r{{}, s, 1'000'000'000, "", false, ""};
  auto j = dma_report_json(r);
  ASSERT_EQ(j["devices"].size(), 2u);
  EXPECT_EQ(j["devices"][0]["name"], "0000:3b:00.0");
  EXPECT_EQ(j["devices"][0]["directions"]["to_device"]["map"]["bytes"], 8192);
  EXPECT_EQ(j["devices"][1]["name"], "?");
}

TEST_F(DmaBpf, lifetime_pairs_dma_map_with_unmap) {
  load();
  uint64_t dev = kFakeDev;
  run(skel_->progs.dma_map_phys, {dev, 0x100000, 0xa000, 4096, kToDevice, 0});
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  // (dev, dma, size, dir, attrs)
  run(skel_->progs.dma_unmap_phys, {dev, 0xa000, 4096, kToDevice, 0});

  DmaSnapshot s = snap();
  const auto& d = s.devices[dev];
  EXPECT_EQ(d.dirs[kToDevice].unmap_count, 1u);
  EXPECT_EQ(d.dirs[kToDevice].unmap_bytes, 4096u);
  EXPECT_EQ(d.dirs[kToDevice].unmap_unmatched, 0u);
  EXPECT_EQ(d.lifetime[kToDevice].count, 1u);
  EXPECT_GE(d.lifetime[kToDevice].sum, 3'000'000u);  // at least the sleep between map and unmap
  // The pair left nothing behind in the live table.
  aitrace_dma_live_key k{};
  EXPECT_NE(bpf_map_get_next_key(bpf_map__fd(skel_->maps.dma_live), nullptr, &k), 0);
}

TEST_F(DmaBpf, same_dma_address_mapped_twice_needs_two_unmaps) {
  load();
  // dma-direct: dma == phys, so one page mapped twice has one key; both unmaps pair.
  for (int i = 0; i < 2; i++) run(skel_->progs.dma_map_page, {kFakeDev, 0xa000, 0xa000, 4096, kToDevice, 0});
  for (int i = 0; i < 2; i++) run(skel_->progs.dma_unmap_page, {kFakeDev, 0xa000, 4096, kToDevice, 0});
  run(skel_->progs.dma_unmap_page, {kFakeDev, 0xa000, 4096, kToDevice, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[kFakeDev].lifetime[kToDevice].count, 2u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].unmap_unmatched, 1u);
}

TEST_F(DmaBpf, dma_unmap_without_map_is_counted_unmatched) {
  load();
  run(skel_->progs.dma_unmap_phys, {kFakeDev, 0xdead000, 4096, kFromDevice, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[kFakeDev].dirs[kFromDevice].unmap_count, 1u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kFromDevice].unmap_unmatched, 1u);
  EXPECT_EQ(s.devices[kFakeDev].lifetime[kFromDevice].count, 0u);
  EXPECT_EQ(s.unmatched_unmaps(), 1u);
  EXPECT_EQ(dma_lost_json(s)["unmatched_unmaps"], 1);
  EXPECT_NE(dma_report_text(DmaReport{{}, s, 1'000'000'000, "", false, ""}).find("unmatched unmaps 1"), std::string::npos);
}

TEST_F(DmaBpf, dma_map_sg_walks_chained_list_and_pairs_unmap) {
  load();
  size_t sz = size_of("scatterlist");
  size_t a = 2048, b = 3072;  // two scatterlist arrays, the first chained to the second
  // a[0]: 4096 bytes; a[1]: chain link to b; b[0]: 8192 bytes (DMA length 8000); b[1]: 100 bytes, last.
  fake_sg(a, {{4096, 4096, 0}, {0, 0, kaddr(b) | 0x1 /* SG_CHAIN */}});
  fake_sg(b, {{8192, 8000, 0}, {100, 100, 0x2 /* SG_END */}, {7777, 7777, 0}});
  ASSERT_LT(b + 3 * sz, 4096u);
  uint64_t sgl = kaddr(a);
  // (dev, sgl, nents, ents, dir, attrs)
  run(skel_->progs.dma_map_sg, {kFakeDev, sgl, 3, 3, kFromDevice, 0});
  run(skel_->progs.dma_sync_sg_for_cpu, {kFakeDev, sgl, 3, kFromDevice});  // (dev, sgl, nelems, dir)
  run(skel_->progs.dma_unmap_sg, {kFakeDev, sgl, 3, kFromDevice, 0});      // (dev, sgl, nents, dir, attrs)
  // A second list at an address that is not kernel memory: counted, zero bytes.
  run(skel_->progs.dma_map_sg, {kFakeDev, 0x2000, 5, 2, kToDevice, 0});

  DmaSnapshot s = snap();
  const auto& from = s.devices[kFakeDev].dirs[kFromDevice];
  EXPECT_EQ(from.sg_map_count, 1u);
  EXPECT_EQ(from.sg_map_nents, 3u);
  EXPECT_EQ(from.sg_map_ents, 3u);
  EXPECT_EQ(from.sg_map_bytes, 4096u + 8000u + 100u);  // DMA lengths; the entry after SG_END is not counted
  EXPECT_EQ(from.sync_cpu_count, 1u);
  EXPECT_EQ(from.sync_cpu_bytes, 4096u + 8192u + 100u);  // CPU lengths
  EXPECT_EQ(from.sg_unmap_count, 1u);
  EXPECT_EQ(from.sg_unmap_bytes, 4096u + 8000u + 100u);
  EXPECT_EQ(from.unmap_unmatched, 0u);
  EXPECT_EQ(s.devices[kFakeDev].lifetime[kFromDevice].count, 1u);
  const auto& to = s.devices[kFakeDev].dirs[kToDevice];
  EXPECT_EQ(to.sg_map_count, 1u);
  EXPECT_EQ(to.sg_map_nents, 5u);
  EXPECT_EQ(to.sg_map_ents, 2u);
  EXPECT_EQ(to.sg_map_bytes, 0u);
}

// GPU pinning maps long lists (149 entries seen on an H100 host): with bpf_loop every entry is
// summed; the unrolled fallback stops at AITRACE_DMA_SG_WALK_MAX and says so.
class DmaLongSg : public DmaBpf, public ::testing::WithParamInterface<bool> {};

TEST_P(DmaLongSg, dma_map_sg_of_100_entries_sums_every_entry_or_counts_truncation) {
  const bool use_loop = GetParam();
  const bool kernel_has_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nullptr) == 1;
  if (use_loop && !kernel_has_loop) {
    // Before 5.17 the loader must pick the unrolled walk by itself.
    load();
    EXPECT_FALSE(skel_->rodata->have_bpf_loop);
    return;
  }
  load(0, [&](dma_bpf* s) {
    EXPECT_EQ(s->rodata->have_bpf_loop, kernel_has_loop);  // what the loader chose
    s->rodata->have_bpf_loop = use_loop;
  });
  const size_t sz = size_of("scatterlist"), n = 100;
  ASSERT_LE(n * sz, 4096u);
  for (size_t i = 0; i < n; i++)
    fake_sg(i * sz, {{1000, static_cast<uint32_t>(i + 1), i + 1 == n ? 0x2ull /* SG_END */ : 0}});
  run(skel_->progs.dma_map_sg, {kFakeDev, kaddr(0), n, n, kToDevice, 0});
  DmaSnapshot s = snap();
  const auto& to = s.devices[kFakeDev].dirs[kToDevice];
  if (use_loop) {
    EXPECT_EQ(to.sg_map_bytes, n * (n + 1) / 2);  // DMA lengths 1..100
    EXPECT_EQ(s.lost.sg_walk_truncated, 0u);
  } else {
    EXPECT_EQ(to.sg_map_bytes, uint64_t{AITRACE_DMA_SG_WALK_MAX} * (AITRACE_DMA_SG_WALK_MAX + 1) / 2);
    EXPECT_EQ(s.lost.sg_walk_truncated, 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(WalkModes, DmaLongSg, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "bpf_loop" : "unrolled"; });

TEST_F(DmaBpf, full_dma_live_table_drop_is_counted) {
  load(/*live_max=*/2);
  for (uint64_t i = 0; i < 3; i++) run(skel_->progs.dma_map_phys, {kFakeDev, 0, 0x10000 * (i + 1), 4096, kToDevice, 0});
  for (uint64_t i = 0; i < 3; i++) run(skel_->progs.dma_unmap_phys, {kFakeDev, 0x10000 * (i + 1), 4096, kToDevice, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.lost.live_full, 1u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].map_count, 3u);  // counted although not tracked
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].unmap_unmatched, 1u);
  EXPECT_EQ(s.devices[kFakeDev].lifetime[kToDevice].count, 2u);
  EXPECT_EQ(dma_lost_json(s)["live_full"], 1);
}

TEST_F(DmaBpf, dma_fence_wait_pairs_start_with_end_per_task) {
  load();
  const uint64_t fence = 0x3000;
  run(skel_->progs.dma_fence_wait_start, {fence});
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  run(skel_->progs.dma_fence_wait_end, {fence});
  run(skel_->progs.dma_fence_wait_end, {fence});  // no start: unmatched

  DmaSnapshot s = snap();
  uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  ASSERT_EQ(s.waiters.count(tid), 1u);
  const DmaWaiter& w = s.waiters[tid];
  EXPECT_EQ(w.tgid, static_cast<uint32_t>(getpid()));
  char comm[17] = {};
  ASSERT_EQ(prctl_comm(comm), 0);
  EXPECT_EQ(w.comm, comm);
  EXPECT_EQ(w.hist.count, 1u);
  EXPECT_GE(w.hist.sum, 2'000'000u);
  EXPECT_EQ(s.fence.wait_start, 1u);
  EXPECT_EQ(s.fence.wait_end, 2u);
  EXPECT_EQ(s.fence.wait_end_unmatched, 1u);
}

TEST_F(DmaBpf, dma_fence_waits_of_other_tasks_are_filtered_out) {
  load(0, [](dma_bpf* s) {
    aitrace_filter_cfg cfg{};
    cfg.by_tid = 1;
    const_cast<aitrace_filter_cfg&>(s->rodata->filter_cfg) = cfg;
  });
  uint32_t other = 1;  // only tid 1 is wanted; this thread is not it
  uint8_t one = 1;
  ASSERT_EQ(bpf_map__update_elem(skel_->maps.filter_tids, &other, sizeof(other), &one, sizeof(one), BPF_ANY), 0);
  run(skel_->progs.dma_fence_wait_start, {0x3000});
  run(skel_->progs.dma_fence_wait_end, {0x3000});
  DmaSnapshot s = snap();
  EXPECT_TRUE(s.waiters.empty());
  EXPECT_EQ(s.fence.wait_end_unmatched, 0u);
  EXPECT_EQ(s.fence.wait_start, 1u);  // seen, not measured
}

TEST_F(DmaBpf, dma_fence_emit_to_signaled_per_timeline) {
  load();
  size_t f = 1024, ops = 1536;
  put_u64(f + offset_of("dma_fence", {"ops"}), kaddr(ops));
  put_u64(f + offset_of("dma_fence", {"context"}), 77);
  put_u64(f + offset_of("dma_fence", {"seqno"}), 5);
  put_u64(ops + offset_of("dma_fence_ops", {"get_driver_name"}), 0xffffffff81234567ull);
  run(skel_->progs.dma_fence_init, {kaddr(f)});
  run(skel_->progs.dma_fence_enable_signal, {kaddr(f)});
  run(skel_->progs.dma_fence_emit, {kaddr(f)});
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  run(skel_->progs.dma_fence_signaled, {kaddr(f)});
  run(skel_->progs.dma_fence_signaled, {0x4000});  // never emitted
  // Emitted then destroyed before signaling: the entry goes, nothing is measured.
  run(skel_->progs.dma_fence_emit, {0x5000});
  run(skel_->progs.dma_fence_destroy, {0x5000});
  run(skel_->progs.dma_fence_signaled, {0x5000});

  DmaSnapshot s = snap();
  ASSERT_EQ(s.timelines.size(), 1u);
  auto it = s.timelines.find({kaddr(ops), 77});
  ASSERT_NE(it, s.timelines.end());
  EXPECT_EQ(it->second.context, 77u);
  EXPECT_EQ(it->second.hist.count, 1u);
  EXPECT_GE(it->second.hist.sum, 2'000'000u);
  EXPECT_EQ(s.fence.init, 1u);
  EXPECT_EQ(s.fence.emit, 2u);
  EXPECT_EQ(s.fence.signaled, 3u);
  EXPECT_EQ(s.fence.signaled_without_emit, 2u);
  EXPECT_EQ(s.fence.destroy, 1u);
  EXPECT_EQ(s.fence.enable_signal, 1u);
}

// The address of a kernel text symbol from /proc/kallsyms, 0 when hidden (kptr_restrict).
uint64_t kallsyms_text_address(const std::string& name) {
  std::istringstream in(test::read_file("/proc/kallsyms"));
  std::string addr, type, sym;
  while (in >> addr >> type >> sym) {
    if (sym == name && (type == "T" || type == "t")) return std::strtoull(addr.c_str(), nullptr, 16);
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

TEST_F(DmaBpf, dma_fence_timeline_driver_is_symbolized_from_kallsyms) {
  uint64_t fn = kallsyms_text_address("dma_fence_default_wait");
  if (!fn) AITRACE_REQUIRE_ENV_OR_SKIP("kernel addresses hidden in /proc/kallsyms");
  load();
  // ops is not a symbol (it lives in a BPF map), so its get_driver_name function names the driver.
  size_t f = 1024, ops = 1536;
  put_u64(f + offset_of("dma_fence", {"ops"}), kaddr(ops));
  put_u64(f + offset_of("dma_fence", {"context"}), 9);
  put_u64(ops + offset_of("dma_fence_ops", {"get_driver_name"}), fn);
  run(skel_->progs.dma_fence_emit, {kaddr(f)});
  run(skel_->progs.dma_fence_signaled, {kaddr(f)});
  auto s = read_dma_snapshot(skel_.get(), /*symbolize=*/true);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->timelines.size(), 1u);
  EXPECT_EQ(s->timelines.begin()->second.driver, "dma_fence_default_wait");
  auto j = dma_report_json(DmaReport{{}, *s, 1'000'000'000, "", false, ""});
  EXPECT_EQ(j["dma_fence"]["timelines"][0]["driver"], "dma_fence_default_wait");
  EXPECT_EQ(j["dma_fence"]["timelines"][0]["context"], 9);
}

TEST_F(DmaBpf, swiotlb_bounced_dma_bytes_per_device) {
  load();
  uint64_t dev = fake_device("0000:00:04.0", "virtio-pci");
  // (dev, dma, size)
  run(skel_->progs.swiotlb_bounced, {dev, 0xa000, 2048});
  run(skel_->progs.swiotlb_bounced, {dev, 0xb000, 6000});
  run(skel_->progs.swiotlb_bounced, {kFakeDev, 0xc000, 1});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[dev].dev.swiotlb_count, 2u);
  EXPECT_EQ(s.devices[dev].dev.swiotlb_bytes, 8048u);
  EXPECT_EQ(s.total_swiotlb_bytes(), 8049u);
  auto j = dma_report_json(DmaReport{{}, s, 1'000'000'000, "", false, ""});
  EXPECT_EQ(j["swiotlb"]["bytes"], 8049);
  EXPECT_EQ(j["swiotlb"]["devices"][0]["device"], "0000:00:04.0");
}

TEST_F(DmaBpf, iommu_dma_map_unmap_bytes_and_faults) {
  load();
  run(skel_->progs.iommu_map, {0x100000, 0x7000000, 8192});        // (iova, paddr, size)
  run(skel_->progs.iommu_unmap, {0x100000, 8192, 4096});           // (iova, size, unmapped)
  run(skel_->progs.iommu_io_page_fault, {kFakeDev, 0x100000, 0});  // (dev, iova, flags)
  DmaSnapshot s = snap();
  EXPECT_EQ(s.iommu.map_count, 1u);
  EXPECT_EQ(s.iommu.map_bytes, 8192u);
  EXPECT_EQ(s.iommu.unmap_count, 1u);
  EXPECT_EQ(s.iommu.unmap_requested, 8192u);
  EXPECT_EQ(s.iommu.unmap_bytes, 4096u);
  EXPECT_EQ(s.iommu.faults, 1u);
  EXPECT_EQ(s.devices[kFakeDev].dev.iommu_faults, 1u);
}

TEST_F(DmaBpf, dma_alloc_free_bytes_in_both_argument_layouts) {
  // This kernel's layout: (dev, virt, dma, size, dir, gfp, attrs).
  load();
  run(skel_->progs.dma_alloc, {kFakeDev, 0, 0xa000, 65536, kToDevice, 0xcc0, 0});
  run(skel_->progs.dma_free, {kFakeDev, 0, 0xa000, 65536, kToDevice, 0});
  run(skel_->progs.dma_alloc_sgt_err, {kFakeDev, 0, 0, 4096, kToDevice, 0xcc0, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].alloc_bytes, 65536u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].free_bytes, 65536u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kToDevice].alloc_errors, 1u);

  // 6.12's layout has gfp flags where the direction is now: with alloc_has_dir off the flags
  // must not be taken for a direction.
  load(0, [](dma_bpf* s) {
    s->rodata->alloc_has_dir = false;
    s->rodata->free_has_dir = false;
  });
  run(skel_->progs.dma_alloc, {kFakeDev, 0, 0xa000, 4096, 0xcc0, 0});
  run(skel_->progs.dma_free, {kFakeDev, 0, 0xa000, 4096, 0});
  s = snap();
  EXPECT_EQ(s.devices[kFakeDev].dirs[kBidirectional].alloc_bytes, 4096u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[kBidirectional].free_bytes, 4096u);
  EXPECT_EQ(s.devices[kFakeDev].dirs[3].alloc_count, 0u);
}

TEST_F(DmaBpf, dma_device_named_after_first_event_gets_its_name) {
  load();
  uint64_t dev = fake_device("0000:65:00.0", "mlx5_core");
  size_t name_field = offset_of("device", {"kobj", "name"});
  uint64_t name_ptr = 0;
  std::memcpy(&name_ptr, scratch() + name_field, sizeof(name_ptr));
  put_u64(name_field, 0);  // kobject not named yet (device still registering)
  run(skel_->progs.dma_map_phys, {dev, 0, 0xa000, 4096, kToDevice, 0});
  EXPECT_EQ(snap().devices[dev].name, "");
  put_u64(name_field, name_ptr);
  run(skel_->progs.dma_map_phys, {dev, 0, 0xb000, 4096, kToDevice, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[dev].name, "0000:65:00.0");
  EXPECT_EQ(s.devices[dev].driver, "mlx5_core");
  EXPECT_EQ(s.devices[dev].dirs[kToDevice].map_count, 2u);
}

TEST_F(DmaBpf, device_names_are_escaped_in_dma_reports) {
  load();
  uint64_t dev = fake_device("evil\x1b[2J\n", "drv\"x");
  run(skel_->progs.dma_map_phys, {dev, 0, 0xa000, 4096, kToDevice, 0});
  DmaSnapshot s = snap();
  EXPECT_EQ(s.devices[dev].name, "evil\x1b[2J\n");
  std::string text = dma_report_text(DmaReport{{}, s, 1'000'000'000, "", false, ""});
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\x1b[2J\\x0a"), std::string::npos) << text;
  std::string json = dma_report_json(DmaReport{{}, s, 1'000'000'000, "", false, ""}).dump();
  EXPECT_EQ(json.find('\x1b'), std::string::npos);
  EXPECT_NE(json.find("evil\\u001b[2J\\n"), std::string::npos) << json;
}

// What `aitrace serve` exports for dma (DmaMetrics) equals what the programs counted: two rounds
// of events driven with BPF_PROG_TEST_RUN, each followed by a refresh; every counter and
// histogram grows by exactly the second round's events, and promtool accepts the exposition,
// device and driver names with quotes and backslashes included.
TEST_F(DmaBpf, serve_exports_the_counted_traffic_and_fence_waits) {
  load();
  const uint64_t dev = fake_device("0000:3b:00.0", "nv\"id\\ia");
  MetricStore store({});
  DmaMetrics metrics;
  auto scrape = [&] {
    std::string text;
    store.render(MetricFormat::prometheus, text);
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') m[line.substr(0, line.rfind(' '))] = line.substr(line.rfind(' ') + 1);
    return std::make_pair(text, m);
  };
  // The driver name as JSON has it (a backslash doubled: docs/json.md, "Kernel strings"), escaped
  // once more for the exposition format.
  const std::string l = R"(device="0000:3b:00.0",driver="nv\"id\\\\ia",direction="to_device")";
  auto round = [&](uint64_t base) {
    run(skel_->progs.dma_map_phys, {dev, 0x100000, base, 4096, kToDevice, 0});
    run(skel_->progs.dma_map_phys, {dev, 0x200000, base + 0x1000, 8192, kToDevice, 0});
    run(skel_->progs.dma_unmap_phys, {dev, base, 4096, kToDevice, 0});
    run(skel_->progs.dma_fence_wait_start, {0x3000});
    run(skel_->progs.dma_fence_wait_end, {0x3000});
    metrics.add(snap(), store);
  };
  round(0xa0000);
  auto [text1, m1] = scrape();
  EXPECT_EQ(m1["aitrace_dma_maps_total{" + l + ",kind=\"single\"}"], "2") << text1;
  EXPECT_EQ(m1["aitrace_dma_mapped_bytes_total{" + l + ",kind=\"single\"}"], "12288");
  EXPECT_EQ(m1["aitrace_dma_unmaps_total{" + l + ",kind=\"single\"}"], "1");
  EXPECT_EQ(m1["aitrace_dma_mapping_lifetime_seconds_count{" + l + "}"], "1");
  EXPECT_EQ(m1["aitrace_dma_fence_events_total{event=\"wait_end\"}"], "1");
  EXPECT_EQ(m1["aitrace_dma_lost_events_total{reason=\"live_full\"}"], "0");
  char comm[17] = {};
  ASSERT_EQ(prctl_comm(comm), 0);
  const std::string waiter = std::string("aitrace_dma_fence_wait_seconds_count{comm=\"") + comm + "\"}";
  EXPECT_EQ(m1[waiter], "1");

  round(0xb0000);
  auto [text2, m2] = scrape();
  EXPECT_EQ(m2["aitrace_dma_maps_total{" + l + ",kind=\"single\"}"], "4") << text2;
  EXPECT_EQ(m2["aitrace_dma_mapped_bytes_total{" + l + ",kind=\"single\"}"], "24576");
  EXPECT_EQ(m2["aitrace_dma_mapping_lifetime_seconds_count{" + l + "}"], "2");
  EXPECT_EQ(m2[waiter], "2");
  // The kernel's own sums reach _sum: the exported wait time equals the waiter's histogram sum.
  const DmaSnapshot s = snap();
  const uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  ASSERT_EQ(s.waiters.count(tid), 1u);
  const std::string sum = std::string("aitrace_dma_fence_wait_seconds_sum{comm=\"") + comm + "\"}";
  // Exactly: the exposition prints ns / 1e9 in the shortest form that reads back as that double.
  EXPECT_EQ(std::strtod(m2[sum].c_str(), nullptr), static_cast<double>(s.waiters.at(tid).hist.sum) / 1e9) << m2[sum];

  if (std::filesystem::exists("/usr/bin/promtool")) {
    const std::string file = std::filesystem::temp_directory_path() / ("aitrace-dma-metrics-" + std::to_string(getpid()));
    std::ofstream(file) << text2;
    auto check = test::run_command({"/bin/sh", "-c", "promtool check metrics < " + file});
    std::filesystem::remove(file);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err << text2;
  }
}

}  // namespace
}  // namespace aitrace
