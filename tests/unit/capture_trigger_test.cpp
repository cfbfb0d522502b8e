// The flight recorder's trigger grammar (aitrace/capture/trigger.hpp): what parses, what each bad
// token's message says, and evaluation on report documents.
#include "aitrace/capture/trigger.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

using nlohmann::json;

TEST(CaptureTrigger, ParsesTheDocumentedForms) {
  auto t = parse_trigger("sched.runq_wakeup.p99>5ms");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->source, "sched");
  EXPECT_EQ(t->name, "runq_wakeup");
  EXPECT_EQ(t->stat, "p99");
  EXPECT_EQ(t->threshold, 5000000u);
  EXPECT_FALSE(t->or_equal);
  auto m = parse_trigger("migrate.pages >= 10000");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->threshold, 10000u);
  EXPECT_TRUE(m->or_equal);
  EXPECT_TRUE(m->fires(10000));
  EXPECT_FALSE(t->fires(5000000));
  EXPECT_TRUE(t->fires(5000001));
  ASSERT_TRUE(parse_trigger("sched.offcpu_block.max>200ms"));
  ASSERT_TRUE(parse_trigger("sched.runq_wakeup.count>0"));
}

TEST(CaptureTrigger, BadTokensAreNamedWithTheirColumn) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"sched.runq_wakup.p99>5ms", "unknown sched metric (expected runq_wakeup, runq_preempt, "
                                                          "oncpu, offcpu_sleep, offcpu_block) 'runq_wakup' at column 7"},
                        Case{"sched.runq_wakeup.p98>5ms", "unknown statistic"},
                        Case{"sched.runq_wakeup.p99>5", "expected a duration with its unit (500us, 5ms, 1s), not '5' at column 23"},
                        Case{"sched.runq_wakeup.p99>5xs", "'5xs' at column 23"},
                        Case{"dma.bytes>1", "unknown source (expected sched or migrate) 'dma' at column 1"},
                        Case{"migrate.pages>many", "expected a whole number, not 'many' at column 15"},
                        Case{"migrate.pages", "no comparison"},
                        Case{"sched.runq_wakeup>1ms", "expected sched.METRIC.STAT"}}) {
    auto t = parse_trigger(c.text);
    ASSERT_FALSE(t) << c.text;
    EXPECT_EQ(t.error().kind, ErrorKind::usage);
    EXPECT_NE(t.error().message.find(c.says), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find(std::string("'") + c.text + "'"), std::string::npos) << t.error().message;
  }
}

TEST(CaptureTrigger, TheLargestGroupValueOfAnIntervalIsCompared) {
  const json sched = {{"group_by", "process"},
                      {"groups",
                       {{{"comm", "a"}, {"pid", 1}, {"histograms", {{"runq_wakeup", {{"count", 3}, {"p99", 2000000u}}}}}},
                        {{"comm", "b"}, {"pid", 2}, {"histograms", {{"runq_wakeup", {{"count", 1}, {"p99", 7000000u}}}}}},
                        {{"comm", "c"}, {"pid", 3}, {"histograms", {{"runq_wakeup", {{"count", 0}, {"p99", 9000000u}}}}}}}}};
  const std::map<std::string, json> docs = {{"sched", sched}};
  auto t = parse_trigger("sched.runq_wakeup.p99>5ms");
  ASSERT_TRUE(t);
  std::string where;
  const uint64_t v = t->value(docs, &where).value_or(0);
  EXPECT_EQ(v, 7000000u) << "a group without samples does not count";
  EXPECT_EQ(where, "b (2)");
  EXPECT_TRUE(t->fires(v));
  auto m = parse_trigger("migrate.pages>0");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->value(docs, nullptr)) << "migrate did not run";
}

}  // namespace
}  // namespace aitrace
