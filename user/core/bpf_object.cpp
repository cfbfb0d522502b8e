#include "aitrace/core/bpf_object.hpp"

#include "aitrace/core/bpf_permission.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace aitrace {

std::string bpf_error_text(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  return fmt::format("{} ({})", std::strerror(err), name ? name : std::to_string(err).c_str());
}

namespace {

LibbpfLogCapture* g_capture = nullptr;  // the innermost live capture (loads do not nest threads)
constexpr size_t kCaptureLimit = 64 << 10;

bool mentions(std::string_view log, std::string_view what) { return log.find(what) != std::string_view::npos; }

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() : outer_(g_capture) {
  previous_ = libbpf_set_print(&LibbpfLogCapture::print);
  g_capture = this;
}

LibbpfLogCapture::~LibbpfLogCapture() {
  g_capture = outer_;
  libbpf_set_print(previous_);
}

int LibbpfLogCapture::print(enum libbpf_print_level level, const char* format, va_list args) {
  LibbpfLogCapture* self = g_capture;
  if (!self) return 0;
  // Debug lines (several per CO-RE relocation: ~3,600 lines, 390 KB for sched) tell no failure
  // apart, and formatting them took ~5% of start-up; what load_error() reads is logged at warn.
  if (level == LIBBPF_DEBUG) return self->previous_ ? self->previous_(level, format, args) : 0;
  va_list copy;
  va_copy(copy, args);
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), format, copy);
  va_end(copy);
  if (n > 0) self->text_.append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
  if (self->text_.size() > kCaptureLimit) self->text_.erase(0, self->text_.size() - kCaptureLimit);
  return self->previous_ ? self->previous_(level, format, args) : 0;
}

Error load_error(const char* what, int err, std::string_view log) {
  const std::string errno_text = bpf_error_text(err);
  // libbpf poisons an instruction whose CO-RE relocation found no match; the verifier then
  // rejects it and libbpf rewrites that log line to say so (libbpf 1.x).
  if (mentions(log, "failed to resolve CO-RE relocation") || mentions(log, "<invalid CO-RE relocation>"))
    return make_error(ErrorKind::unsupported,
                      "loading the {} BPF programs failed: a kernel type or field they read is missing from this "
                      "kernel's BTF ({}; run with -v for libbpf's log)",
                      what, errno_text);
  switch (-err) {
    case EPERM:
      return bpf_denied_error(fmt::format("loading the {} BPF programs", what));
    case ENOMEM:
    case E2BIG:
      return make_error(ErrorKind::resources,
                        "loading the {} BPF programs failed: {}: not enough memory for its maps (a map too "
                        "large, or RLIMIT_MEMLOCK on kernels before 5.11)",
                        what, errno_text);
    case ESRCH:
    case ENOENT:
      // libbpf's answer when kernel BTF, a BTF type or an attach target is not found.
      return make_error(ErrorKind::unsupported,
                        "loading the {} BPF programs failed: {}: this kernel's BTF lacks a type or attach target "
                        "they need (run with -v for libbpf's log)",
                        what, errno_text);
    case EACCES:
    case EINVAL:
      if (mentions(log, "BEGIN PROG LOAD LOG") || mentions(log, "processed "))
        return make_error(ErrorKind::unsupported,
                          "loading the {} BPF programs failed: {}: this kernel's verifier rejected them (run with "
                          "-v for the verifier log)",
                          what, errno_text);
      break;
    default:
      break;
  }
  return make_error(ErrorKind::unsupported, "loading the {} BPF programs failed: {} (run with -v for libbpf's log)",
                    what, errno_text);
}

}  // namespace aitrace
