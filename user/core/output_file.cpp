#include "aitrace/core/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace aitrace {

Result<OutputFile> OutputFile::create(const std::string& path) {
  if (path.empty()) return make_error(ErrorKind::usage, "empty output path");
  struct stat st{};
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return make_error(ErrorKind::usage, "refusing to write {}: not a regular file", path);
  std::random_device rd;
  for (int attempt = 0; attempt < 8; attempt++) {
    std::string tmp = path + ".partial-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 100000);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return OutputFile(path, tmp, fd);
    if (errno != EEXIST) return make_error(ErrorKind::usage, "cannot write {}: {}", path, std::strerror(errno));
  }
  return make_error(ErrorKind::usage, "cannot write {}: could not create a temporary file", path);
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(o.fd_), committed_(o.committed_) {
  o.fd_ = -1;
  o.committed_ = true;
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) close(fd_);
  if (!committed_ && !tmp_.empty()) unlink(tmp_.c_str());
}

Status OutputFile::write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorKind::runtime, "writing {}: {}", path_, std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status OutputFile::flush() {
  if (fdatasync(fd_) != 0) return make_error(ErrorKind::runtime, "flushing {}: {}", path_, std::strerror(errno));
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
