// --trace-buffer SIZE: a power of two up to 1G, and nothing that only looks like one after the
// multiplication by the unit wrapped around.
#include "aitrace/eevdf/eevdf_options.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

Result<SchedTraceOptions> parse(const std::string& size) {
  EevdfCliOptions o;
  o.trace_buffer = size;
  return sched_trace_options(o);
}

TEST(TraceBufferOption, AcceptsPowersOfTwoWithUnits) {
  auto k = parse("256K");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->ring_bytes, 256u << 10);
  auto m = parse("1024M");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->ring_bytes, 1u << 30);
  auto plain = parse("65536");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->ring_bytes, 65536u);
}

// 2^44+1 mebibytes is 2^64 + 2^20 bytes: in 64 bits that wraps to exactly 1M.
TEST(TraceBufferOption, RejectsSizesWhoseProductOverflows) {
  for (const char* size : {"17592186044417M", "18014398509481985K", "18446744073709551615M", "2048M"}) {
    auto r = parse(size);
    ASSERT_FALSE(r.ok()) << size << " accepted as " << r->ring_bytes << " bytes";
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    EXPECT_EQ(r.error().message, fmt::format("invalid --trace-buffer '{}': expected a power of two like 4M or 256K "
                                             "(at most 1G)", size));
  }
}

// Without --trace-buffer the ring is sized from the CPUs: each gets its share of 64 MiB, a power
// of two between 256 KiB and 16 MiB.
TEST(TraceBufferOption, DefaultRingIsTheCpusShareOfTheBudget) {
  auto none = parse("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->ring_bytes, 0u) << "0: the collector sizes it";
  EXPECT_EQ(default_trace_ring_bytes(1), 16u << 20);
  EXPECT_EQ(default_trace_ring_bytes(2), 16u << 20);
  EXPECT_EQ(default_trace_ring_bytes(4), 16u << 20);
  EXPECT_EQ(default_trace_ring_bytes(6), 8u << 20);  // 6 x 16 MiB is over the budget
  EXPECT_EQ(default_trace_ring_bytes(64), 1u << 20);
  EXPECT_EQ(default_trace_ring_bytes(256), 256u << 10);
  EXPECT_EQ(default_trace_ring_bytes(4096), 256u << 10);  // the floor, over the budget
}

}  // namespace
}  // namespace aitrace
