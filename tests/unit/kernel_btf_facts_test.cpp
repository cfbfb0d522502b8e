// The one-pass BTF reader start-up uses instead of libbpf's parse: it must answer exactly what
// libbpf's parse of the same BTF answers (ground truth: libbpf's own lookups), on a BTF built
// by hand with every kind the reader steps over, and on this kernel's BTF.
#include "aitrace/core/hooks.hpp"
#include "aitrace/core/kernel_btf_facts.hpp"
#include "test_support.hpp"

#include <bpf/btf.h>

#include <gtest/gtest.h>

#include <fstream>

#include <cstring>
#include <string>
#include <vector>

namespace aitrace {
namespace {

std::vector<char> raw_of(const btf* b) {
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  const auto* p = static_cast<const char*>(raw);
  return {p, p + size};
}

// A tracepoint prototype as the kernel declares it: typedef btf_trace_<name> -> pointer ->
// function (void *__data, args...).
int add_tracepoint(btf* b, const char* name, int nargs) {
  const int ulong = btf__add_int(b, "long unsigned int", 8, 0);
  const int voidp = btf__add_ptr(b, 0);
  const int proto = btf__add_func_proto(b, 0);
  btf__add_func_param(b, "__data", voidp);
  for (int i = 0; i < nargs; i++) btf__add_func_param(b, "", ulong);
  return btf__add_typedef(b, (std::string("btf_trace_") + name).c_str(), btf__add_ptr(b, proto));
}

TEST(KernelBtfFacts, ReadsPastEveryKindAsLibbpfDoes) {
  btf* b = btf__new_empty();
  ASSERT_NE(b, nullptr);
  const int u32 = btf__add_int(b, "unsigned int", 4, 0);
  const int first = add_tracepoint(b, "first", 2);
  // One of each kind with trailing data (or none), so a wrong size would desync every later id.
  btf__add_array(b, u32, u32, 4);
  btf__add_struct(b, "sched_entity", 16);
  btf__add_field(b, "vruntime", u32, 0, 0);
  btf__add_field(b, "cfs_rq", u32, 64, 0);
  btf__add_union(b, "u", 4);
  btf__add_field(b, "a", u32, 0, 0);
  btf__add_enum(b, "e", 4);
  btf__add_enum_value(b, "E0", 0);
  btf__add_enum64(b, "e64", 8, false);
  btf__add_enum64_value(b, "E64", 1ULL << 40);
  btf__add_fwd(b, "fwd", BTF_FWD_STRUCT);
  btf__add_volatile(b, u32);
  btf__add_const(b, u32);
  btf__add_restrict(b, btf__add_ptr(b, u32));
  const int fproto = btf__add_func_proto(b, u32);
  btf__add_func_param(b, "x", u32);
  btf__add_func(b, "f", BTF_FUNC_GLOBAL, fproto);
  btf__add_float(b, "double", 8);
  btf__add_type_tag(b, "tag", u32);
  const int var = btf__add_var(b, "v", BTF_VAR_GLOBAL_ALLOCATED, u32);
  btf__add_decl_tag(b, "dtag", var, -1);
  btf__add_datasec(b, ".data", 4);
  btf__add_datasec_var_info(b, var, 0, 4);
  // The first cfs_rq lacks rq; a later one with it is not what libbpf's lookup finds.
  btf__add_struct(b, "cfs_rq", 4);
  btf__add_field(b, "nr_running", u32, 0, 0);
  const int last = add_tracepoint(b, "last", 5);
  btf__add_struct(b, "cfs_rq", 8);
  btf__add_field(b, "rq", u32, 0, 0);

  const std::vector<char> raw = raw_of(b);
  auto scanned = scan_kernel_btf(raw.data(), raw.size());
  ASSERT_TRUE(scanned.has_value());
  const KernelBtfFacts& f = scanned.value();
  ASSERT_EQ(f.tracepoints.size(), 2u);
  ASSERT_TRUE(f.tracepoint("first").has_value() && f.tracepoint("last").has_value());
  EXPECT_EQ(f.tracepoint("first").value().typedef_id, static_cast<uint32_t>(first));
  EXPECT_EQ(f.tracepoint("first").value().args, 2);
  EXPECT_EQ(f.tracepoint("last").value().typedef_id, static_cast<uint32_t>(last));
  EXPECT_EQ(f.tracepoint("last").value().args, 5);
  EXPECT_FALSE(f.tracepoint("missing").has_value());
  EXPECT_TRUE(f.sched_entity_has_cfs_rq);
  EXPECT_FALSE(f.cfs_rq_has_rq);
  EXPECT_FALSE(f.has_bpf_mem_alloc);
  // The same answers from libbpf's lookups on the same BTF.
  EXPECT_EQ(tracepoint_arg_count(b, "last"), 5);
  EXPECT_EQ(btf__find_by_name_kind(b, "btf_trace_last", BTF_KIND_TYPEDEF), last);
  btf__free(b);
}

TEST(KernelBtfFacts, RefusesWhatIsNotWellFormedBtf) {
  btf* b = btf__new_empty();
  add_tracepoint(b, "x", 1);
  std::vector<char> raw = raw_of(b);
  btf__free(b);
  ASSERT_TRUE(scan_kernel_btf(raw.data(), raw.size()).has_value());
  EXPECT_FALSE(scan_kernel_btf(raw.data(), 10).has_value());               // shorter than the header
  EXPECT_FALSE(scan_kernel_btf(raw.data(), raw.size() - 8).has_value());   // strings cut off
  std::vector<char> bad = raw;
  bad[0] ^= 0x1;                                                           // magic
  EXPECT_FALSE(scan_kernel_btf(bad.data(), bad.size()).has_value());
  // A type kind the reader does not know: its size is unknown, so nothing after it can be read.
  std::vector<char> unknown = raw;
  btf_header h{};
  std::memcpy(&h, unknown.data(), sizeof(h));
  btf_type t{};
  char* first_type = unknown.data() + h.hdr_len + h.type_off;
  std::memcpy(&t, first_type, sizeof(t));
  t.info = (t.info & ~(0x1fU << 24)) | (31U << 24);
  std::memcpy(first_type, &t, sizeof(t));
  EXPECT_FALSE(scan_kernel_btf(unknown.data(), unknown.size()).has_value());
}

// This kernel: every btf_trace_ typedef libbpf's parse finds, with the same id and argument
// count, and the same scheduler fields.
TEST(KernelBtfFacts, AgreesWithLibbpfOnThisKernel) {
  const btf* b = vmlinux_btf();
  if (!b) AITRACE_REQUIRE_ENV_OR_SKIP("no /sys/kernel/btf/vmlinux on this host");
  const KernelBtfFacts* f = kernel_btf_facts();
  ASSERT_NE(f, nullptr);
  size_t typedefs = 0;
  for (uint32_t id = 1; id < btf__type_cnt(b); id++) {
    const btf_type* t = btf__type_by_id(b, id);
    const std::string name = btf__name_by_offset(b, t->name_off);
    if (!btf_is_typedef(t) || !name.starts_with("btf_trace_")) continue;
    typedefs++;
    const std::string tp = name.substr(std::strlen("btf_trace_"));
    auto proto = f->tracepoint(tp);
    ASSERT_TRUE(proto.has_value()) << tp;
    EXPECT_EQ(proto.value().typedef_id,
              static_cast<uint32_t>(btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF)))
        << tp;
    EXPECT_EQ(proto.value().args, tracepoint_arg_count(b, tp)) << tp;
  }
  EXPECT_GT(typedefs, 100u);  // every kernel with BTF has hundreds of tracepoints
  EXPECT_EQ(f->tracepoints.size(), typedefs);
  auto has_member = [&](const char* type, const char* member) {
    const int id = btf__find_by_name_kind(b, type, BTF_KIND_STRUCT);
    const btf_type* t = id > 0 ? btf__type_by_id(b, static_cast<uint32_t>(id)) : nullptr;
    for (int i = 0; t && i < btf_vlen(t); i++)
      if (std::string(btf__name_by_offset(b, btf_members(t)[i].name_off)) == member) return true;
    return false;
  };
  EXPECT_EQ(f->sched_entity_has_cfs_rq, has_member("sched_entity", "cfs_rq"));
  EXPECT_EQ(f->cfs_rq_has_rq, has_member("cfs_rq", "rq"));
  EXPECT_EQ(f->has_bpf_mem_alloc, btf__find_by_name_kind(b, "bpf_mem_alloc", BTF_KIND_STRUCT) > 0);
}

// What the user reads when the facts cannot be had: a missing file is a kernel without BTF, an
// unreadable or unknown one says so (not "no BTF", which would send them to rebuild a kernel).
TEST(KernelBtfFacts, SaysWhyTheKernelsBtfCannotBeRead) {
  const std::string dir = ::testing::TempDir();
  auto missing = load_kernel_btf_facts((dir + "/no-such-btf").c_str());
  EXPECT_EQ(missing.facts, nullptr);
  EXPECT_NE(missing.why_not.find("this kernel has no BTF"), std::string::npos) << missing.why_not;
  const std::string junk = dir + "/junk-btf";
  {
    std::ofstream out(junk);
    out << "not BTF at all, but long enough to be read as a header";
  }
  auto bad = load_kernel_btf_facts(junk.c_str());
  EXPECT_EQ(bad.facts, nullptr);
  EXPECT_NE(bad.why_not.find("not well-formed, or a type kind this aitrace does not know"), std::string::npos) << bad.why_not;
}

}  // namespace
}  // namespace aitrace
