// RingReader against a real BPF ring buffer fed by BPF_PROG_TEST_RUN: one drain pass ends even
// while the producer keeps up with the consumer (whole-system --trace under load).
#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/ring_reader.hpp"
#include "probe.skel.h"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

using ProbeSkeleton = AITRACE_SKELETON_TYPE(probe);

TEST(RingReader, ADrainPassTakesOnlyWhatWasThereWhenItBegan) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  auto skel = ProbeSkeleton::open("probe");
  ASSERT_TRUE(skel.ok()) << skel.error().message;
  auto* s = skel->get();
  bpf_program* p;
  bpf_object__for_each_program(p, s->obj) bpf_program__set_autoload(p, p == s->progs.probe_ringbuf);
  ASSERT_TRUE(skel->load("probe").ok());
  const int prog = bpf_program__fd(s->progs.probe_ringbuf);
  // Every record consumed makes the program submit another, until kRefills: a producer exactly
  // as fast as the consumer. libbpf's consume alone would take all 1100 in one call.
  constexpr int kStart = 100, kRefills = 1000;
  int refills = 0;
  RingReader reader([&](std::span<const std::byte>) {
    if (refills < kRefills && test::run_raw_tp(prog, {}) == 0) refills++;
  });
  ASSERT_TRUE(reader.add(bpf_map__fd(s->maps.probe_ring)).ok());
  for (int i = 0; i < kStart; i++) ASSERT_EQ(test::run_raw_tp(prog, {}), 0);
  ASSERT_EQ(s->bss->ringbuf_dropped, 0u);

  auto first = reader.drain();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, size_t{kStart}) << "the pass took records that arrived during it";
  auto rest = reader.drain_all();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*first + *rest, size_t{kStart + kRefills});
  // 100 per pass: 11 passes with records, and the empty one that ends drain_all().
  EXPECT_EQ(reader.passes(), 12u);
  EXPECT_EQ(reader.consumed(), s->bss->ringbuf_submitted);
}

}  // namespace
}  // namespace aitrace
