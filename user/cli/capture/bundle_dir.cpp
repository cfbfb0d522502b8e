#include "aitrace/capture/bundle_dir.hpp"

#include "aitrace/core/output_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace aitrace {
namespace {

namespace fs = std::filesystem;

Status sync_path(const std::string& p, int flags) {
  const int fd = open(p.c_str(), flags | O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error(ErrorKind::runtime, "cannot open {}: {}", p, std::strerror(errno));
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return make_error(ErrorKind::runtime, "cannot write {}: {}", p, std::strerror(err));
  return {};
}

}  // namespace

Result<BundleDir> BundleDir::create(const std::string& path, bool replace) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "DIR/" names DIR
  if (p.empty() || p.filename() == "." || p.filename() == "..")
    return make_error(ErrorKind::usage, "-o '{}': expected the path of a new directory", path);
  struct stat st {};
  if (lstat(p.c_str(), &st) == 0) {
    if (!replace)
      return make_error(ErrorKind::usage, "-o {}: it already exists (give --force to replace it, or a new path)",
                        p.string());
    if (!S_ISDIR(st.st_mode))
      return make_error(ErrorKind::usage, "-o {}: it exists and is not a directory; --force replaces only a directory",
                        p.string());
  }
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::string tmp = (parent / ("." + p.filename().string() + ".partial-XXXXXX")).string();
  std::vector<char> buf(tmp.begin(), tmp.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    return make_error(ErrorKind::runtime, "-o {}: cannot create a directory in {}: {}", p.string(), parent.string(),
                      std::strerror(errno));
  return BundleDir(p.string(), std::string(buf.data()), replace);
}

BundleDir::BundleDir(BundleDir&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), replace_(o.replace_), committed_(o.committed_) {
  o.tmp_.clear();
}

BundleDir::~BundleDir() {
  if (committed_ || tmp_.empty()) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

Status BundleDir::write(std::string_view name, std::string_view data) {
  return write_file_atomically(staged_path(name), data);
}

Status BundleDir::commit() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp_, ec))
    if (e.is_regular_file()) AITRACE_TRY(sync_path(e.path().string(), 0));
  if (ec) return make_error(ErrorKind::runtime, "cannot list {}: {}", tmp_, ec.message());
  AITRACE_TRY(sync_path(tmp_, O_DIRECTORY));
  // RENAME_NOREPLACE: an empty directory created at the path since create() would otherwise be
  // replaced silently (rename(2) replaces empty directories).
  if (renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    if (err != EEXIST || !replace_)
      return make_error(err == EEXIST ? ErrorKind::usage : ErrorKind::runtime, "cannot create {}: {}", path_,
                        err == EEXIST ? "it appeared while tracing (give --force to replace it)" : std::strerror(err));
    // --force: the old bundle and the new swap names in one step, then the old one goes.
    if (renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) != 0)
      return make_error(ErrorKind::runtime, "cannot replace {}: {}", path_, std::strerror(errno));
    committed_ = true;
    fs::remove_all(tmp_, ec);
    if (ec) return make_error(ErrorKind::runtime, "replaced {}, but the old bundle stays at {}: {}", path_, tmp_,
                              ec.message());
    return {};
  }
  committed_ = true;
  const fs::path parent = fs::path(path_).has_parent_path() ? fs::path(path_).parent_path() : fs::path(".");
  return sync_path(parent.string(), O_DIRECTORY);
}

}  // namespace aitrace
