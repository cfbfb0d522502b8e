// Where a command's report goes: stdout, or -o FILE written atomically (opened before tracing
// starts, so an unwritable path fails fast). Interval reports always go to stdout; the final
// one goes to -o FILE when given, else to stdout.
//
// A failing stdout is one failed output, not a failed run: a closed pipe (`| head`) ends the
// interval reports there and the run goes on, so -o FILE and CMD still finish. The failure is
// kept, and the final write reports it, so `> /dev/full` or a broken pipe never exits 0 with
// the report lost.
#pragma once

#include "aitrace/core/output_file.hpp"
#include "aitrace/core/result.hpp"

#include <optional>
#include <string>

namespace aitrace {

class ReportWriter {
 public:
  static Result<ReportWriter> open(const std::string& output_path);
  Status write_interval(const std::string& text);
  // The final report; fails when it, or an earlier interval on stdout, could not be written.
  Status write_final(const std::string& text);
  bool has_file() const { return file_.has_value(); }

 private:
  // Writes to stdout unless it already failed; remembers the first failure.
  void to_stdout(const std::string& text);
  std::optional<OutputFile> file_;
  std::optional<Error> stdout_error_;
};

}  // namespace aitrace
