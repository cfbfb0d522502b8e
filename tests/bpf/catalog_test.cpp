// Doctor's tracepoint catalog, which each collector derives from its hook table
// (sched_tracepoints(), ...), against the hooks that collector really asks for once opened, so
// that the derivation cannot drift: doctor never reports on events a collector does not use or
// misses one it does. Every collector is opened with the widest targets (`-- CMD`).
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

void expect_catalog_matches(const CollectorTracepoints& entry, const std::set<std::string>& hooked) {
  const CollectorTracepoints* c = &entry;
  const std::string_view collector = entry.collector;
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
  auto sched = SchedCollector::open(sc, test::features());
  ASSERT_TRUE(sched.ok()) << sched.error().message;
  expect_catalog_matches(sched_tracepoints(), hook_events(sched->hooks()));

  auto trace = SchedTraceCollector::open(command_targets(), SchedTraceOptions{}, test::features());
  ASSERT_TRUE(trace.ok()) << trace.error().message;
  expect_catalog_matches(eevdf_tracepoints(), hook_events((*trace)->hooks()));

  auto migrate = MigrateCollector::load(command_targets(), test::features());
  ASSERT_TRUE(migrate.ok()) << migrate.error().message;
  expect_catalog_matches(migrate_tracepoints(), hook_events((*migrate)->hooks()));

  auto dma = DmaCollector::open(DmaConfig{command_targets()}, test::features());
  ASSERT_TRUE(dma.ok()) << dma.error().message;
  expect_catalog_matches(dma_tracepoints(), hook_events((*dma)->hooks()));
}

}  // namespace
}  // namespace aitrace
