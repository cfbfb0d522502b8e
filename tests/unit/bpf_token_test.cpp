// The bpffs delegation options as /proc/self/mountinfo shows them, and what aitrace lacks there.
#include "aitrace/core/bpf_token.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aitrace {
namespace {

TEST(BpfToken, DelegationFromMountinfoSuperOptions) {
  // Linux 6.18's mountinfo for a bpffs made by tests/workloads/bpffs_delegate.
  BpffsDelegation d = parse_bpffs_delegation(
      "rw,uid=65534,gid=65534,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array:ringbuf,"
      "delegate_progs=raw_tracepoint:tracing,delegate_attachs=trace_raw_tp");
  EXPECT_TRUE(d.any());
  EXPECT_EQ(d.cmds, "map_create:prog_load:btf_load");
  EXPECT_EQ(d.maps, "array:ringbuf");
  EXPECT_EQ(d.progs, "raw_tracepoint:tracing");
  EXPECT_EQ(d.attachs, "trace_raw_tp");

  BpffsDelegation none = parse_bpffs_delegation("rw,relatime,mode=700");
  EXPECT_FALSE(none.any());
  EXPECT_FALSE(none.cmds.has_value());
  BpffsDelegation some = parse_bpffs_delegation("rw,delegate_cmds=any");
  EXPECT_TRUE(some.any());
  EXPECT_EQ(some.cmds, "any");
  EXPECT_FALSE(some.attachs.has_value());
}

TEST(BpfToken, MissingDelegationByName) {
  EXPECT_EQ(missing_delegation("any", "map_create:prog_load"), "");
  EXPECT_EQ(missing_delegation("prog_load:map_create", "map_create:prog_load"), "");
  EXPECT_EQ(missing_delegation("map_create", "map_create:prog_load:btf_load"), "prog_load:btf_load");
  EXPECT_EQ(missing_delegation("", "map_create"), "map_create");
  // A prefix is not the name: "hash" does not cover "percpu_hash".
  EXPECT_EQ(missing_delegation("hash", "percpu_hash"), "percpu_hash");
  // Linux 6.9 showed a hex mask, which names cannot be checked against.
  EXPECT_FALSE(missing_delegation("0x3", "map_create").has_value());
}

}  // namespace
}  // namespace aitrace
