// Who `-- CMD` runs as, resolved before anything forks; the e2e privilege tests check what the
// command really gets (/proc/self/status of CMD).
#include "aitrace/core/command_credentials.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

namespace aitrace {
namespace {

TEST(CommandCredentials, KeepCapsDropsNothingAndExcludesUser) {
  auto keep = command_credentials("", true, "1000", nullptr);
  ASSERT_TRUE(keep.ok()) << keep.error().message;
  EXPECT_TRUE(keep->keep);
  EXPECT_FALSE(keep->uid.has_value());  // SUDO_UID does not apply either
  auto both = command_credentials("nobody", true, nullptr, nullptr);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().kind, ErrorKind::usage);
}

TEST(CommandCredentials, UnknownUserIsAUsageError) {
  auto r = command_credentials("aitrace-no-such-user", false, nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::usage);
  EXPECT_NE(r.error().message.find("aitrace-no-such-user"), std::string::npos);
}

TEST(CommandCredentials, UserByNameOrUid) {
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "Debian's base-passwd always has 'nobody'";
  auto byname = command_credentials("nobody", false, nullptr, nullptr);
  ASSERT_TRUE(byname.ok()) << byname.error().message;
  if (geteuid() == nobody->pw_uid) return;  // already that user: nothing to switch
  EXPECT_EQ(byname->uid, std::optional<uid_t>(nobody->pw_uid));
  EXPECT_EQ(byname->gid, nobody->pw_gid);
  EXPECT_NE(byname->who.find("nobody"), std::string::npos);
  // A uid with no passwd entry is taken as it is, its gid the same number.
  auto bare = command_credentials("4000123", false, nullptr, nullptr);
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_EQ(bare->uid, 4000123u);
  EXPECT_EQ(bare->gid, 4000123u);
  EXPECT_TRUE(bare->groups.empty());
}

TEST(CommandCredentials, SudoCallerIsTheDefaultForRoot) {
  auto r = command_credentials("", false, "4000123", "4000124");
  ASSERT_TRUE(r.ok()) << r.error().message;
  if (geteuid() != 0) {
    EXPECT_FALSE(r->uid.has_value());  // SUDO_UID means something only when aitrace is root
    return;
  }
  EXPECT_EQ(r->uid, 4000123u);
  EXPECT_EQ(r->gid, 4000124u);
  auto bad = command_credentials("", false, "alice", nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::usage);
  // --user wins over SUDO_UID.
  auto user = command_credentials("4000200", false, "4000123", nullptr);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->uid, 4000200u);
}

TEST(CommandCredentials, RootWithoutSwitchIsMarked) {
  auto r = command_credentials("", false, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->keep);
  EXPECT_FALSE(r->uid.has_value());
  EXPECT_EQ(r->root_without_switch, geteuid() == 0);
}

}  // namespace
}  // namespace aitrace
