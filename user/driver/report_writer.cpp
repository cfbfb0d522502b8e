#include "aitrace/driver/report_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace aitrace {

Result<ReportWriter> ReportWriter::open(const std::string& output_path) {
  ReportWriter w;
  if (!output_path.empty()) {
    auto f = OutputFile::create(output_path);
    if (!f) return f.error();
    w.file_.emplace(std::move(*f));
  }
  return w;
}

void ReportWriter::to_stdout(const std::string& text) {
  if (stdout_error_) return;
  errno = 0;
  const bool written = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  if (written && std::fflush(stdout) == 0) return;
  const int e = errno ? errno : EIO;
  stdout_error_ = Error{ErrorKind::runtime, fmt::format("writing the report to stdout failed: {}{}", std::strerror(e),
                                                        e == EPIPE ? " (the reader closed the pipe)" : "")};
  // What stdio still buffers would be written (and fail again) at exit; the output is over.
  std::clearerr(stdout);
  std::fprintf(stderr, "aitrace: %s; later reports to stdout are dropped\n", stdout_error_->message.c_str());
}

Status ReportWriter::write_interval(const std::string& text) {
  to_stdout(text);
  return {};  // the run goes on; write_final reports the failure
}

Status ReportWriter::write_final(const std::string& text) {
  if (file_) {
    AITRACE_TRY(file_->write(text));
    AITRACE_TRY(file_->commit());
  } else {
    to_stdout(text);
  }
  if (stdout_error_) return *stdout_error_;
  return {};
}

}  // namespace aitrace
