// --by cgroup names: each id resolved on its own (a file handle), never by walking the tree per
// tick; removed cgroups are left out, and asked for again they cost nothing.
#include "aitrace/core/cgroup_namespace.hpp"
#include "aitrace/core/cgroup_paths.hpp"
#include "aitrace/core/targets.hpp"
#include "test_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace aitrace {
namespace {

uint64_t cgroup_id(const std::filesystem::path& dir) {
  struct stat st{};
  return stat(dir.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

TEST(CgroupPaths, ResolvesReportedIdsWithoutWalkingTheTree) {
  std::string root = cgroup2_mount();
  if (root.empty() || geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root and a cgroup2 mount");
  std::string name = "aitrace-cgpaths-" + std::to_string(getpid());
  std::filesystem::path top = std::filesystem::path(root) / name, leaf = top / "a" / "b";
  std::error_code ec;
  std::filesystem::create_directories(leaf, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::filesystem::path gone = top / "gone";
  std::filesystem::create_directory(gone);
  const uint64_t leaf_id = cgroup_id(leaf), gone_id = cgroup_id(gone);
  ASSERT_NE(leaf_id, 0u);
  ASSERT_EQ(rmdir(gone.c_str()), 0);

  CgroupPaths names(root);
  auto p = names.paths({leaf_id, cgroup_id(root), gone_id});
  EXPECT_EQ(p[leaf_id], "/" + name + "/a/b");
  EXPECT_EQ(p[cgroup_id(root)], "/");
  EXPECT_EQ(p.count(gone_id), 0u);
  EXPECT_EQ(names.walks(), 0u) << "root has CAP_DAC_READ_SEARCH: file handles, no walk";
  // Every later tick asks again: answered from what is known (the removed one too).
  for (int tick = 0; tick < 50; tick++) EXPECT_EQ(names.paths({leaf_id, gone_id}).size(), 1u);
  EXPECT_EQ(names.walks(), 0u);
  EXPECT_EQ(cgroup_paths_for({leaf_id}).at(leaf_id), "/" + name + "/a/b");

  std::filesystem::remove(leaf);
  std::filesystem::remove(top / "a");
  std::filesystem::remove(top);
}

}  // namespace
}  // namespace aitrace

namespace aitrace {
namespace {

// mountinfo's root of a cgroup2 mount, read from inside a cgroup namespace: "/.." per level the
// mount's root lies above the namespace's (what `unshare --cgroup --mount` shows for the host's
// mount); any other path is a mount that does not hold the namespace's root.
TEST(CgroupNamespace, LevelsAboveTheNamespaceRootFromMountinfoRoot) {
  EXPECT_EQ(levels_above_namespace("/"), 0u);
  EXPECT_EQ(levels_above_namespace("/.."), 1u);
  EXPECT_EQ(levels_above_namespace("/../../.."), 3u);
  EXPECT_EQ(levels_above_namespace("/../a"), std::nullopt);
  EXPECT_EQ(levels_above_namespace("/a"), std::nullopt);
  EXPECT_EQ(levels_above_namespace("/..."), std::nullopt);
  EXPECT_EQ(levels_above_namespace(""), std::nullopt);
}

}  // namespace
}  // namespace aitrace
