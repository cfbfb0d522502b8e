// Doctor's tracepoint catalog (user/core/tracepoint_catalog.cpp) against the hooks each
// collector really asks for, so that doctor never reports on events a collector does not use
// or misses one it does. Every collector is opened with the widest targets (`-- CMD`).
#include "aitrace/dma/dma.hpp"
#include "aitrace/migrate/migrate_collector.hpp"
#include "aitrace/sched/sched_collector.hpp"
#include "aitrace/eevdf/sched_trace.hpp"
#include "aitrace/core/tracepoint_catalog.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>

namespace aitrace {
namespace {

ResolvedTargets command_targets() {
  ResolvedTargets t;
  t.cfg.by_tgid = 1;
  t.cfg.follow_forks = 1;
  t.tgids = {static_cast<uint32_t>(getpid())};
  return t;
}

std::set<std::string> hook_events(const HookSet& hooks) {
  std::set<std::string> out;
  for (const HookStatus& s : hooks.statuses()) out.insert(s.event);
  return out;
}

void expect_catalog_matches(const char* collector, const std::set<std::string>& hooked) {
  const CollectorTracepoints* c = collector_tracepoints(collector);
  ASSERT_NE(c, nullptr) << collector;
  std::set<std::string> listed;
  for (const auto& e : c->events) {
    bool any = false;
    for (auto n : e.names) {
      std::string ev = std::string(e.category) + ":" + std::string(n);
      listed.insert(ev);
      any |= hooked.count(ev) > 0;
    }
    EXPECT_TRUE(any) << collector << ": the catalog lists " << e.category << ":" << e.names.front()
                     << " but the collector does not hook it";
  }
  for (const auto& ev : hooked)
    EXPECT_TRUE(listed.count(ev)) << collector << " hooks " << ev << " but doctor's catalog does not list it";
}

TEST(TracepointCatalog, MatchesTheHooksOfEveryCollector) {
  AITRACE_REQUIRE_BPF_OR_SKIP();
  SchedConfig sc;
  sc.targets = command_targets();
  auto sched = SchedCollector::open(sc);
  ASSERT_TRUE(sched.ok()) << sched.error().message;
  expect_catalog_matches("sched", hook_events(sched->hooks()));

  auto trace = SchedTraceCollector::open(command_targets(), SchedTraceOptions{});
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  expect_catalog_matches("sched_trace", hook_events((*trace)->hooks()));

  auto migrate = MigrateCollector::load(command_targets());
  ASSERT_TRUE(migrate.ok()) << migrate.error().message;
  expect_catalog_matches("migrate", hook_events((*migrate)->hooks()));

  auto dma = DmaCollector::open(DmaConfig{command_targets()});
  ASSERT_TRUE(dma.ok()) << dma.error().message;
  expect_catalog_matches("dma", hook_events((*dma)->hooks()));
}

}  // namespace
}  // namespace aitrace
