// A failed BPF load names its real cause: libbpf's errno and log, mapped to one exit code each.
#include "aitrace/core/bpf_object.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

namespace aitrace {
namespace {

bool says(const Error& e, const std::string& what) { return e.message.find(what) != std::string::npos; }

TEST(ErrorKind, EveryKindHasItsOwnExitCode) {
  std::set<int> codes;
  for (ErrorKind k : {ErrorKind::runtime, ErrorKind::usage, ErrorKind::unsupported, ErrorKind::privilege,
                      ErrorKind::resources})
    EXPECT_TRUE(codes.insert(static_cast<int>(k)).second) << static_cast<int>(k) << " is shared";
  EXPECT_EQ(codes.count(0), 0u);
}

TEST(LoadError, MapsTheErrnoToTheCause) {
  Error perm = load_error("sched", -EPERM, "");
  EXPECT_EQ(perm.kind, ErrorKind::privilege);
  // The cause after it depends on this process (its capabilities, seccomp, namespaces):
  // bpf_permission_test drives each one with fixed facts.
  EXPECT_TRUE(says(perm, "loading the sched BPF programs failed: Operation not permitted (EPERM): ")) << perm.message;
  for (int e : {ENOMEM, E2BIG}) {
    Error mem = load_error("sched", -e, "");
    EXPECT_EQ(mem.kind, ErrorKind::resources) << e;
    EXPECT_TRUE(says(mem, "not enough memory for its maps")) << mem.message;
  }
  for (int e : {ESRCH, ENOENT}) {
    Error btf = load_error("sched", -e, "libbpf: failed to find valid kernel BTF\n");
    EXPECT_EQ(btf.kind, ErrorKind::unsupported);
    EXPECT_TRUE(says(btf, "BTF lacks a type or attach target")) << btf.message;
  }
}

// The texts libbpf 1.x logs: the verifier's log between its markers, and the line it rewrites
// for a poisoned CO-RE relocation.
TEST(LoadError, TellsAVerifierRejectionFromAMissingBtfField) {
  const std::string verifier =
      "libbpf: prog 'on_switch': BPF program load failed: Permission denied\n"
      "libbpf: prog 'on_switch': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n; int BPF_PROG(on_switch...\n"
      "R2 invalid mem access 'scalar'\nprocessed 12 insns (limit 1000000)\n"
      "-- END PROG LOAD LOG --\n";
  for (int e : {EACCES, EINVAL}) {
    Error v = load_error("sched", -e, verifier);
    EXPECT_EQ(v.kind, ErrorKind::unsupported);
    EXPECT_TRUE(says(v, "verifier rejected them (run with -v for the verifier log)")) << v.message;
  }
  const std::string core =
      "libbpf: prog 'on_switch': BPF program load failed: Invalid argument\n"
      "libbpf: prog 'on_switch': -- BEGIN PROG LOAD LOG --\n"
      "12: <invalid CO-RE relocation>\n"
      "failed to resolve CO-RE relocation <byte_off> [95] struct sched_entity.cfs_rq (0:10 @ offset 128)\n"
      "processed 13 insns (limit 1000000)\n-- END PROG LOAD LOG --\n";
  Error c = load_error("sched", -EINVAL, core);
  EXPECT_EQ(c.kind, ErrorKind::unsupported);
  EXPECT_TRUE(says(c, "a kernel type or field they read is missing from this kernel's BTF")) << c.message;
  // EINVAL without a verifier log (e.g. a map type the kernel does not know): no verifier claim.
  Error other = load_error("sched", -EINVAL, "libbpf: map 'x': failed to create: Invalid argument\n");
  EXPECT_FALSE(says(other, "verifier")) << other.message;
}

}  // namespace
}  // namespace aitrace
