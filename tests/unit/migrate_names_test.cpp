// Reason/mode naming from the running kernel's BTF, checked against the kernel's own tracefs
// format of mm_migrate_pages, and the argument count the raw programs rely on.
#include "aitrace/migrate/migrate_names.hpp"
#include "aitrace/core/hooks.hpp"
#include "test_support.hpp"

#include <bpf/btf.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>

namespace aitrace {
namespace {

#define REQUIRE_KERNEL_BTF()                                                                    \
  do {                                                                                          \
    if (!vmlinux_btf()) AITRACE_REQUIRE_ENV_OR_SKIP("no /sys/kernel/btf/vmlinux on this host"); \
  } while (0)

std::string migrate_pages_format() {
  std::string root = tracefs_root();
  return root.empty() ? std::string() : test::read_file(root + "/events/migrate/mm_migrate_pages/format");
}

// {value, name} pairs of `__print_symbolic(REC->reason, {0, "compaction"}, ...)`.
std::map<int64_t, std::string> tracefs_symbols(const std::string& format, const std::string& field) {
  std::map<int64_t, std::string> out;
  size_t at = format.find("__print_symbolic(REC->" + field);
  if (at == std::string::npos) return out;
  size_t end = format.find(')', at);
  std::string part = format.substr(at, end - at);
  std::regex pair(R"(\{\s*(-?\d+)\s*,\s*\"([^\"]*)\"\s*\})");
  for (std::sregex_iterator it(part.begin(), part.end(), pair), e; it != e; ++it) out[std::stoll((*it)[1])] = (*it)[2];
  return out;
}

TEST(MigrateNames, ReasonsComeFromKernelBtf) {
  REQUIRE_KERNEL_BTF();
  const EnumNames& r = migrate_reason_names();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.name(0), "compaction");  // MR_COMPACTION has been 0 since the enum exists
  // The count enumerator (MR_TYPES) is not a reason: its value prints as a number.
  EXPECT_FALSE(r.find(static_cast<int64_t>(r.all().size())).has_value());
  for (const auto& [v, n] : r.all()) {
    EXPECT_FALSE(n.empty());
    EXPECT_EQ(n.find("mr_"), std::string::npos) << n;
  }
}

TEST(MigrateNames, BtfNamesTheSameValuesAsTracefs) {
  REQUIRE_KERNEL_BTF();
  std::string fmt = migrate_pages_format();
  if (fmt.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("tracefs not mounted or no mm_migrate_pages here");
  auto reasons = tracefs_symbols(fmt, "reason");
  ASSERT_FALSE(reasons.empty()) << fmt;
  const EnumNames& r = migrate_reason_names();
  for (const auto& [v, n] : reasons) {
    ASSERT_TRUE(r.find(v).has_value()) << "tracefs names reason " << v << " (" << n << "), BTF does not";
    // tracefs spells MR_SYSCALL "syscall_or_cpuset"; every other name is the enumerator's.
    if (n != "syscall_or_cpuset") {
      EXPECT_EQ(r.find(v).value(), n) << v;
    }
  }
  EXPECT_EQ(r.all().size(), reasons.size());
  auto modes = tracefs_symbols(fmt, "mode");
  const EnumNames& m = migrate_mode_names();
  for (const auto& [v, n] : modes) {
    ASSERT_TRUE(m.find(v).has_value()) << v;
    std::string upper = m.find(v).value();
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ("MIGRATE_" + upper, n);
  }
}

TEST(MigrateNames, UnknownValuesPrintAsNumbers) {
  REQUIRE_KERNEL_BTF();
  const EnumNames& r = migrate_reason_names();
  EXPECT_EQ(r.name(4242), "4242");
  EXPECT_EQ(r.name(-1), "-1");
  EXPECT_FALSE(r.find(4242).has_value());
  EnumNames none = EnumNames::from_btf(vmlinux_btf(), "no_such_enum_aitrace", "MR_");
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.name(0), "0");
  EnumNames no_btf = EnumNames::from_btf(nullptr, "migrate_reason", "MR_");
  EXPECT_EQ(no_btf.name(5), "5");
}

TEST(MigrateNames, ArgumentCountMatchesTracefsRecord) {
  REQUIRE_KERNEL_BTF();
  auto n = tracepoint_arg_count(vmlinux_btf(), "mm_migrate_pages");
  ASSERT_TRUE(n.has_value());
  std::string fmt = migrate_pages_format();
  if (fmt.empty()) AITRACE_REQUIRE_ENV_OR_SKIP("tracefs not mounted");
  // Every non-common field of the record is one tracepoint argument.
  int fields = 0;
  std::istringstream lines(fmt);
  for (std::string line; std::getline(lines, line);)
    if (line.find("field:") != std::string::npos && line.find("common_") == std::string::npos) fields++;
  EXPECT_EQ(n.value(), fields) << fmt;
}

}  // namespace
}  // namespace aitrace

namespace aitrace {
namespace {

// A kernel's BTF built by hand: an older mm_migrate_pages prototype and a newer reason enum.
struct FakeKernelBtf {
  btf* b = btf__new_empty();
  ~FakeKernelBtf() { btf__free(b); }

  void add_migrate_pages_prototype(int nargs) {
    int ulong = btf__add_int(b, "long unsigned int", 8, 0);
    int voidp = btf__add_ptr(b, 0);
    int proto = btf__add_func_proto(b, 0);  // its parameters must follow it directly
    btf__add_func_param(b, "", voidp);
    for (int i = 0; i < nargs; i++) btf__add_func_param(b, "", ulong);
    int ptr = btf__add_ptr(b, proto);
    btf__add_typedef(b, "btf_trace_mm_migrate_pages", ptr);
  }
};

TEST(MigrateNames, ArgumentCountOfOtherKernelsPrototypes) {
  for (int n : {4, 7, 8}) {
    FakeKernelBtf k;
    k.add_migrate_pages_prototype(n);
    EXPECT_EQ(tracepoint_arg_count(k.b, "mm_migrate_pages"), n);
  }
  FakeKernelBtf none;
  EXPECT_FALSE(tracepoint_arg_count(none.b, "mm_migrate_pages").has_value());
  EXPECT_FALSE(tracepoint_arg_count(nullptr, "mm_migrate_pages").has_value());
}

TEST(MigrateNames, ReasonsAddedByANewerKernelAreNamedWithoutCodeChange) {
  FakeKernelBtf k;
  int e = btf__add_enum(k.b, "migrate_reason", 4);
  btf__add_enum_value(k.b, "MR_COMPACTION", 0);
  btf__add_enum_value(k.b, "MR_DEMOTION", 8);
  btf__add_enum_value(k.b, "MR_SOMETHING_NEW", 10);
  btf__add_enum_value(k.b, "MR_TYPES", 11);
  ASSERT_GT(e, 0);
  EnumNames names = EnumNames::from_btf(k.b, "migrate_reason", "MR_");
  EXPECT_EQ(names.name(0), "compaction");
  EXPECT_EQ(names.name(8), "demotion");
  EXPECT_EQ(names.name(10), "something_new");
  EXPECT_EQ(names.name(11), "11");  // the count, not a reason
  EXPECT_EQ(names.name(5), "5");    // this "kernel" has no value 5
  EXPECT_EQ(names.all().size(), 3u);
}

}  // namespace
}  // namespace aitrace
