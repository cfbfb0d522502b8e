// Errors as values at module boundaries: expected failures (missing BTF, bad pid, missing
// capability) travel up to the CLI, which prints one line and picks the exit code.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace aitrace {

// Exit codes the CLI maps errors to: one per cause, so scripts can tell them apart.
enum class ErrorKind {
  runtime = 1,      // something failed while tracing (I/O, BPF errors)
  usage = 2,        // bad input: unknown pid, bad duration, bad path
  unsupported = 3,  // the kernel lacks what is needed (BTF, a BTF field, a hook) or rejects it
  privilege = 4,    // missing capabilities, or the kernel refuses BPF to this process
  resources = 5,    // not enough memory for the BPF maps (or RLIMIT_MEMLOCK before 5.11)
};

struct Error {
  ErrorKind kind = ErrorKind::runtime;
  std::string message;
};

template <typename... Args>
Error make_error(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  return Error{kind, fmt::format(f, std::forward<Args>(args)...)};
}

class Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}   // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}       // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(v_); }
  Status status() const { return ok() ? Status{} : Status{error()}; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace aitrace

// Propagate a failed Status/Result from the enclosing function.
#define AITRACE_TRY(expr)                        \
  do {                                           \
    auto aitrace_try_ = (expr);                  \
    if (!aitrace_try_.ok()) return aitrace_try_.error(); \
  } while (0)
