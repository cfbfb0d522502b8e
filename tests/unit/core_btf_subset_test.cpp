// The subset of a BTF that CO-RE relocations can reach (core_btf_subset.hpp), on BTF built by
// hand and read back with libbpf's parser (ground truth for what libbpf will see). The bpf
// layer checks the other half: every object relocates the same against the subset as against
// the whole kernel BTF.
#include "aitrace/core/core_btf_subset.hpp"

// The ABI structs sched's skeleton is made of, before it.
#include "aitrace/filter.h"
#include "aitrace/sched_events.h"
#include "aitrace/sched_slow_events.h"
#include "sched.skel.h"

#include <bpf/btf.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace aitrace {
namespace {

struct Built {
  btf* b = btf__new_empty();
  ~Built() { btf__free(b); }
  std::string raw() const {
    uint32_t size = 0;
    const void* p = btf__raw_data(b, &size);
    return {static_cast<const char*>(p), size};
  }
};

int find(const btf* b, const char* name, int kind) { return btf__find_by_name_kind(b, name, kind); }

// A 4-byte struct `name` with one unsigned int member `field`; returns the int's id.
int add_u32_struct(btf* b, const char* name, const char* field) {
  const int u32 = btf__add_int(b, "unsigned int", 4, 0);
  btf__add_struct(b, name, 4);
  btf__add_field(b, field, u32, 0, 0);
  return u32;
}

TEST(CoreBtfSubset, KeepsRootsAndWhatTheyEmbedAndCutsPointers) {
  Built k;
  const int u64 = btf__add_int(k.b, "long long unsigned int", 8, 0);
  btf__add_int(k.b, "long unsigned int", 8, 0);  // what libbpf sizes pointers by
  const int unrelated = btf__add_struct(k.b, "unrelated", 8);
  btf__add_field(k.b, "x", u64, 0, 0);
  const int entity = btf__add_struct(k.b, "sched_entity", 16);
  btf__add_field(k.b, "vruntime", u64, 0, 0);
  btf__add_field(k.b, "weight", u64, 64, 0);
  const int elem = btf__add_struct(k.b, "upid", 8);
  btf__add_field(k.b, "nr", u64, 0, 0);
  const int arr = btf__add_array(k.b, u64, elem, 2);
  const int ptr_unrelated = btf__add_ptr(k.b, unrelated);
  const int task = btf__add_struct(k.b, "task_struct", 48);
  btf__add_field(k.b, "se", entity, 0, 0);
  btf__add_field(k.b, "numbers", arr, 128, 0);
  btf__add_field(k.b, "other", ptr_unrelated, 256, 0);
  btf__add_field(k.b, "start_time", u64, 320, 0);
  ASSERT_GT(task, 0);
  const std::string raw = k.raw();

  // A flavour names its base type: libbpf relocates task_struct___pre514 against task_struct.
  auto subset = kernel_btf_subset(raw.data(), raw.size(), {{"task_struct", BTF_KIND_STRUCT}});
  ASSERT_TRUE(subset);
  btf* s = btf__new(subset.value().data(), static_cast<uint32_t>(subset.value().size()));
  ASSERT_NE(s, nullptr);
  EXPECT_LT(find(s, "unrelated", BTF_KIND_STRUCT), 0) << "reached only through a pointer";
  const int st = find(s, "task_struct", BTF_KIND_STRUCT);
  ASSERT_GT(st, 0);
  const btf_type* t = btf__type_by_id(s, st);
  ASSERT_EQ(btf_vlen(t), 4);
  EXPECT_EQ(t->size, 48u);
  const btf_member* m = btf_members(t);
  EXPECT_STREQ(btf__name_by_offset(s, m[3].name_off), "start_time");
  EXPECT_EQ(btf_member_bit_offset(t, 3), 320u);
  // Embedded: the entity whole, the array's struct elements; the pointer now to void.
  EXPECT_EQ(btf__resolve_size(s, m[0].type), 16);
  EXPECT_GT(find(s, "sched_entity", BTF_KIND_STRUCT), 0);
  EXPECT_GT(find(s, "upid", BTF_KIND_STRUCT), 0);
  EXPECT_EQ(btf__resolve_size(s, m[1].type), 16);
  const btf_type* p = btf__type_by_id(s, m[2].type);
  ASSERT_TRUE(btf_is_ptr(p));
  EXPECT_EQ(p->type, 0u);
  EXPECT_GT(find(s, "long unsigned int", BTF_KIND_INT), 0);
  EXPECT_EQ(btf__pointer_size(s), 8u);
  // task_struct, entity, u64, array, upid, pointer, long
  EXPECT_EQ(btf__type_cnt(s) - 1, 7u);
  btf__free(s);
}

TEST(CoreBtfSubset, AFlavouredKernelTypeIsACandidateToo) {
  Built k;
  add_u32_struct(k.b, "rq___old", "cpu");
  const std::string raw = k.raw();
  auto subset = kernel_btf_subset(raw.data(), raw.size(), {{"rq", BTF_KIND_STRUCT}});
  ASSERT_TRUE(subset);
  btf* s = btf__new(subset.value().data(), static_cast<uint32_t>(subset.value().size()));
  ASSERT_NE(s, nullptr);
  EXPECT_GT(find(s, "rq___old", BTF_KIND_STRUCT), 0);
  btf__free(s);
}

TEST(CoreBtfSubset, NoSubsetWhenARootIsMissingOrAFunctionIsReached) {
  Built k;
  const int u32 = add_u32_struct(k.b, "cgroup", "level");
  const int proto = btf__add_func_proto(k.b, u32);
  btf__add_typedef(k.b, "handler_t", proto);
  btf__add_fwd(k.b, "drm_device", BTF_FWD_STRUCT);
  const std::string raw = k.raw();
  const CoreRoot cgroup{"cgroup", BTF_KIND_STRUCT};
  // Missing: libbpf would search the modules' BTF next, which a subset cannot stand for. A
  // forward declaration is no candidate for a struct (a type only a module defines).
  EXPECT_FALSE(kernel_btf_subset(raw.data(), raw.size(), {cgroup, {"css_set", BTF_KIND_STRUCT}}));
  EXPECT_FALSE(kernel_btf_subset(raw.data(), raw.size(), {{"drm_device", BTF_KIND_STRUCT}}));
  EXPECT_TRUE(kernel_btf_subset(raw.data(), raw.size(), {{"drm_device", BTF_KIND_FWD}}));
  EXPECT_FALSE(kernel_btf_subset(raw.data(), raw.size(), {{"handler_t", BTF_KIND_TYPEDEF}}));
  EXPECT_TRUE(kernel_btf_subset(raw.data(), raw.size(), {cgroup}));
  EXPECT_FALSE(kernel_btf_subset(raw.data(), 10, {cgroup})) << "truncated";
}

// sched's own relocations, read from its object: the types compat.bpf.h declares as flavours
// (task_struct___pre514, cgroup___ancestor_ids) count under their base names.
TEST(CoreBtfSubset, SchedRelocationRootsAreItsKernelTypesWithoutFlavours) {
  size_t size = 0;
  const void* elf = sched_bpf__elf_bytes(&size);
  auto roots = core_relocation_roots(elf, size);
  ASSERT_TRUE(roots);
  for (const char* want : {"task_struct", "rq", "cfs_rq", "sched_entity", "cgroup"})
    EXPECT_NE(std::find(roots.value().begin(), roots.value().end(), CoreRoot{want, BTF_KIND_STRUCT}),
              roots.value().end())
        << want;
  for (const auto& r : roots.value()) EXPECT_EQ(r.name.find("___"), std::string::npos) << r.name;
  EXPECT_FALSE(core_relocation_roots(elf, 64)) << "a truncated object";
}

}  // namespace
}  // namespace aitrace
