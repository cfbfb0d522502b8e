// An incident bundle's directory, written atomically: every file goes into a private temporary
// sibling (`.NAME.partial-XXXXXX`, mode 0700: the files name every process), and commit()
// renames it to its final name in one step. So a reader (or a later capture) never sees a
// half-written bundle under the final name: a failed write (a full disk), a crash or a kill
// leaves only the temporary, which the destructor removes when it can.
#pragma once

#include "aitrace/core/result.hpp"

#include <string>
#include <string_view>

namespace aitrace {

class BundleDir {
 public:
  // Checks now (before tracing starts) that `path` can be created: its parent is a writable
  // directory and, without `replace`, nothing is at `path` yet.
  static Result<BundleDir> create(const std::string& path, bool replace);
  BundleDir(BundleDir&& o) noexcept;
  BundleDir& operator=(BundleDir&&) = delete;
  BundleDir(const BundleDir&) = delete;
  ~BundleDir();  // an uncommitted temporary is removed

  // A file of the bundle (written whole, then renamed inside the temporary).
  Status write(std::string_view name, std::string_view data);
  // Where a file of the bundle is written before commit (for collectors that write their own
  // files, such as the Perfetto trace).
  std::string staged_path(std::string_view name) const { return tmp_ + "/" + std::string(name); }
  // Makes the files durable and renames the temporary to the final path (refusing one that
  // appeared meanwhile, unless `replace`: then the old bundle is swapped out and removed).
  Status commit();
  const std::string& path() const { return path_; }

 private:
  BundleDir(std::string path, std::string tmp, bool replace)
      : path_(std::move(path)), tmp_(std::move(tmp)), replace_(replace) {}
  std::string path_, tmp_;
  bool replace_ = false;
  bool committed_ = false;
};

}  // namespace aitrace
