// Output files: written to a private temporary (O_EXCL, O_NOFOLLOW, 0644 less the umask) beside
// the target, `.NAME.partial-XXXXXX`, and renamed over it on commit, so readers never see a
// half-written file and a planted symlink is never followed. Opening early makes "unwritable
// output" an error before tracing starts, and so is a target the final rename could not
// replace (another user's file in a sticky directory, an immutable file).
#pragma once

#include "aitrace/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace aitrace {

class OutputFile {
 public:
  static Result<OutputFile> create(const std::string& path);
  OutputFile(OutputFile&& o) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  ~OutputFile();  // an uncommitted file is removed

  // All of `data`, or an error (ENOSPC, EIO) with the file cut back to the end of the last
  // whole record that fit: `record_ends` are the records' end offsets in `data`, ascending;
  // none: all of this call's data or none of it stays. size() then says what the file holds.
  Status write(std::string_view data, std::span<const size_t> record_ends = {});
  uint64_t size() const { return size_; }
  // Make written data durable in the temporary (for streaming writers: a crash leaves a readable
  // prefix in .<name>.partial-*, which commit() renames into place).
  Status flush();
  Status commit();
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  OutputFile(std::string path, std::string tmp, int fd) : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;  // bytes in the file
  bool committed_ = false;
};

// Whole-document convenience: create, write, commit.
Status write_file_atomically(const std::string& path, std::string_view data);

}  // namespace aitrace
