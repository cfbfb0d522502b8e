// A kernel without the migrate tracepoints gets one clear message, not a verifier dump.
#include "aitrace/migrate/migrate_collector.hpp"

#include <gtest/gtest.h>

namespace aitrace {
namespace {

TEST(MigrateHooks, MissingTracepointIsAClearUnsupportedError) {
  HookStatus absent;
  absent.event = "migrate:mm_migrate_pages";
  absent.state = HookStatus::State::absent;
  absent.detail = "tp_btf: no such tracepoint in this kernel";
  Status st = require_migrate_end_hook(&absent);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::unsupported);
  EXPECT_NE(st.error().message.find("no usable migrate:mm_migrate_pages tracepoint"), std::string::npos);
  EXPECT_NE(st.error().message.find("no such tracepoint in this kernel"), std::string::npos);
  EXPECT_EQ(st.error().message.find('\n'), std::string::npos);
  EXPECT_FALSE(require_migrate_end_hook(nullptr).ok());

  HookStatus attached = absent;
  attached.state = HookStatus::State::attached;
  attached.kind = HookKind::tp_btf;
  EXPECT_TRUE(require_migrate_end_hook(&attached).ok());
}

}  // namespace
}  // namespace aitrace
