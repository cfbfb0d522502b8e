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

}  // namespace
}  // namespace aitrace
