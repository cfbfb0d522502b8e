// Output files: atomic replacement, no symlink followed, problems found before the run.
#include "aitrace/core/output_file.hpp"
#include "test_support.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace aitrace {
namespace {

TEST(OutputFile, WritesAtomicallyAndRemovesUncommittedTemporaries) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-out-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "report.json").string();
  {
    auto f = OutputFile::create(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("partial").ok());
    EXPECT_FALSE(std::filesystem::exists(path)) << "visible before commit";
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "temporary left behind";
  ASSERT_TRUE(write_file_atomically(path, "{}\n").ok());
  EXPECT_EQ(test::read_file(path), "{}\n");
  std::filesystem::remove_all(dir);
}

// Output files are created 0600 less the umask: they name every process on the host. The test
// sets the umask itself rather than assuming the caller's 022.
TEST(OutputFile, ModeIsOwnerOnlyLessTheUmask) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-mode-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "report.json").string();
  for (mode_t mask : {mode_t{022}, mode_t{077}, mode_t{002}}) {
    mode_t old = umask(mask);
    Status st = write_file_atomically(path, "{}\n");
    umask(old);
    ASSERT_TRUE(st.ok()) << st.error().message;
    struct stat sb{};
    ASSERT_EQ(stat(path.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0600u & ~mask) << "umask " << std::oct << mask;
  }
  std::filesystem::remove_all(dir);
}

// NAME_MAX is 255: a 240-character name is legal, and its temporary must fit too.
TEST(OutputFile, ALongLegalNameWorks) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-long-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / (std::string(235, 'r') + ".json")).string();
  auto f = OutputFile::create(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_TRUE(f->write("{}\n").ok());
  ASSERT_TRUE(f->commit().ok());
  EXPECT_EQ(test::read_file(path), "{}\n");
  std::filesystem::remove_all(dir);
}

// Another user's file in a sticky world-writable directory (/tmp) can be neither replaced nor
// removed by us: that must be the error at the start, not at the final rename after the run.
TEST(OutputFile, ADestinationThatCannotBeReplacedIsRefusedUpFront) {
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to create a file owned by another user");
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-sticky-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);
  auto path = (dir / "report.json").string();
  ASSERT_TRUE(write_file_atomically(path, "root's\n").ok());  // owned by root
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // as nobody, like a user whose -o names root's file in /tmp
    close(p[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    auto f = OutputFile::create(path);
    std::string out = f.ok() ? "created" : f.error().message;
    (void)!write(p[1], out.data(), out.size());
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(out, "cannot replace " + path + ": another user's file in a sticky directory (remove it, or choose another path)");
  EXPECT_EQ(test::read_file(path), "root's\n");
  // Nothing of ours is left beside it.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) entries++;
  EXPECT_EQ(entries, 1u);
  std::filesystem::remove_all(dir);
}

TEST(OutputFile, RefusesSymlinksAndUnwritableDirectories) {
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-sym-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto link = dir / "link";
  std::filesystem::create_symlink("/etc/passwd", link);
  auto r = OutputFile::create(link.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
  auto missing = OutputFile::create("/nonexistent-dir/x.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "cannot write /nonexistent-dir/x.json: No such file or directory");
  std::filesystem::remove_all(dir);
}

// A write the disk cannot take whole (ENOSPC) leaves the file ending on the last whole record
// that fit, so a streaming writer of records keeps a file that decodes to its end.
TEST(OutputFile, AFullDiskCutsTheFileBackToAWholeRecord) {
  if (geteuid() != 0) AITRACE_REQUIRE_ENV_OR_SKIP("needs root to mount a small tmpfs");
  auto dir = std::filesystem::temp_directory_path() / ("aitrace-full-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_EQ(test::run_command({"mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.string()}).exit_code, 0);
  auto path = (dir / "t.bin").string();
  {
    auto f = OutputFile::create(path);
    ASSERT_TRUE(f.ok()) << f.error().message;
    ASSERT_TRUE(f->write(std::string(1000, 'a')).ok());
    // 300-byte records, 100 KiB in one call: more than the whole file system.
    std::string data;
    std::vector<size_t> ends;
    for (int i = 0; i < 350; i++) {
      data += std::string(300, static_cast<char>('b' + i % 20));
      ends.push_back(data.size());
    }
    Status st = f->write(data, ends);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message, "writing " + path + ": No space left on device (ENOSPC)");
    EXPECT_GT(f->size(), 1000u) << "what fit stays";
    EXPECT_EQ((f->size() - 1000) % 300, 0u) << f->size();
    struct stat sb {};
    ASSERT_EQ(fstat(f->fd(), &sb), 0);
    EXPECT_EQ(static_cast<uint64_t>(sb.st_size), f->size());
    // Without record ends a failed call leaves nothing of itself.
    const uint64_t before = f->size();
    EXPECT_FALSE(f->write(std::string(64 << 10, 'z')).ok());
    EXPECT_EQ(f->size(), before);
    ASSERT_EQ(fstat(f->fd(), &sb), 0);
    EXPECT_EQ(static_cast<uint64_t>(sb.st_size), before);
  }
  test::run_command({"umount", dir.string()});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aitrace
