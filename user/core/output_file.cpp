#include "aitrace/core/output_file.hpp"

#include "aitrace/core/caps.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace aitrace {

namespace {

// Whether rename() could put a new file over `path`, asked before the run instead of learnt at
// its end: in a sticky directory (/tmp) only the file's owner, the directory's owner or
// CAP_FOWNER may replace a file; an immutable or append-only file cannot be replaced at all.
Status check_replaceable(const std::string& path, const struct stat& file, const std::string& dir) {
  struct stat d{};
  if (stat(dir.c_str(), &d) == 0 && (d.st_mode & S_ISVTX) && file.st_uid != geteuid() && d.st_uid != geteuid()) {
    auto caps = read_own_capabilities();
    if (!caps || !caps->has(kCapFowner))
      return make_error(ErrorKind::usage,
                        "cannot replace {}: another user's file in a sticky directory (remove it, or choose another "
                        "path)",
                        path);
  }
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) {
    int flags = 0;
    bool fixed = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL));
    close(fd);
    if (fixed) return make_error(ErrorKind::usage, "cannot replace {}: the file is immutable or append-only", path);
  }
  return {};
}

// A short hidden name beside the target: NAME_MAX (255) holds it for any legal target name.
// It keeps the target's name (cut to 200 bytes) so a file left by a crash is recognisable.
std::string temporary_name(const std::string& path, std::random_device& rd) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1).substr(0, 200);
  std::string suffix;
  for (int i = 0; i < 6; i++) suffix.push_back(kChars[rd() % (sizeof(kChars) - 1)]);
  return dir + "." + base + ".partial-" + suffix;
}

// "No space left on device (ENOSPC)": the errno by name too, for the warning a failed trace prints.
std::string io_error_text(int err) {
  const char* name = strerrorname_np(err);
  return std::string(std::strerror(err)) + " (" + (name ? name : std::to_string(err)) + ")";
}

}  // namespace

Result<OutputFile> OutputFile::create(const std::string& path) {
  if (path.empty()) return make_error(ErrorKind::usage, "empty output path");
  struct stat st{};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return make_error(ErrorKind::usage, "refusing to write {}: not a regular file", path);
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    AITRACE_TRY(check_replaceable(path, st, dir));
  }
  std::random_device rd;
  for (int attempt = 0; attempt < 8; attempt++) {
    std::string tmp = temporary_name(path, rd);
    // 0600: reports and traces name every process and thread on the host (comms, command lines,
    // cgroups), which other users of a shared /tmp need not read.
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return OutputFile(path, tmp, fd);
    if (errno != EEXIST) return make_error(ErrorKind::usage, "cannot write {}: {}", path, std::strerror(errno));
  }
  return make_error(ErrorKind::usage, "cannot write {}: could not create a temporary file", path);
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(o.fd_), size_(o.size_), committed_(o.committed_) {
  o.fd_ = -1;
  o.committed_ = true;
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) close(fd_);
  if (!committed_ && !tmp_.empty()) unlink(tmp_.c_str());
}

Status OutputFile::write(std::string_view data, std::span<const size_t> record_ends) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      // A full disk takes part of a buffer: cut the file back to the last whole record that
      // made it, so a writer of records (Perfetto packets) leaves a file that decodes to its end.
      size_t keep = 0;
      for (size_t end : record_ends) {
        if (end > done) break;
        keep = end;
      }
      if (ftruncate(fd_, static_cast<off_t>(size_ + keep)) == 0 &&
          lseek(fd_, static_cast<off_t>(size_ + keep), SEEK_SET) >= 0)
        size_ += keep;
      else
        size_ += done;  // could not cut: the file holds everything written
      return make_error(ErrorKind::runtime, "writing {}: {}", path_, io_error_text(err));
    }
    done += static_cast<size_t>(n);
  }
  size_ += data.size();
  return {};
}

Status OutputFile::flush() {
  if (fdatasync(fd_) != 0) return make_error(ErrorKind::runtime, "flushing {}: {}", path_, io_error_text(errno));
  return {};
}

Status OutputFile::commit() {
  if (committed_) return {};
  if (close(fd_) != 0) {
    fd_ = -1;
    return make_error(ErrorKind::runtime, "closing {}: {}", path_, std::strerror(errno));
  }
  fd_ = -1;
  if (rename(tmp_.c_str(), path_.c_str()) != 0)
    return make_error(ErrorKind::runtime, "renaming into {}: {}", path_, std::strerror(errno));
  committed_ = true;
  return {};
}

Status write_file_atomically(const std::string& path, std::string_view data) {
  auto f = OutputFile::create(path);
  if (!f) return f.error();
  AITRACE_TRY(f->write(data));
  return f->commit();
}

}  // namespace aitrace
