// RAII owners for libbpf skeletons and links. Links are fd-owned: whatever way aitrace exits
// (return, exception, signal, crash) the kernel detaches them when the fds close.
#pragma once

#include "aitrace/core/result.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace aitrace {

class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* l) : link_(l) {}
  Link(Link&& o) noexcept : link_(std::exchange(o.link_, nullptr)) {}
  Link& operator=(Link&& o) noexcept {
    if (this != &o) { reset(); link_ = std::exchange(o.link_, nullptr); }
    return *this;
  }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }
  void reset() { if (link_) bpf_link__destroy(link_); link_ = nullptr; }
  bpf_link* get() const { return link_; }

 private:
  bpf_link* link_ = nullptr;
};

std::string bpf_error_text(int err);  // "Operation not permitted (EPERM)"

template <typename T, T* (*OpenFn)(const bpf_object_open_opts*), int (*LoadFn)(T*), void (*DestroyFn)(T*)>
class Skeleton {
 public:
  Skeleton() = default;
  Skeleton(Skeleton&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Skeleton& operator=(Skeleton&& o) noexcept {
    if (this != &o) { reset(); p_ = std::exchange(o.p_, nullptr); }
    return *this;
  }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;
  ~Skeleton() { reset(); }

  static Result<Skeleton> open(const char* what) {
    errno = 0;
    Skeleton s;
    s.p_ = OpenFn(nullptr);
    if (!s.p_) return make_error(ErrorKind::runtime, "opening the {} BPF object failed: {}", what, bpf_error_text(errno));
    return s;
  }
  Status load(const char* what) {
    int err = LoadFn(p_);
    if (err) {
      return make_error(err == -EPERM || err == -EACCES ? ErrorKind::privilege : ErrorKind::unsupported,
                        "loading the {} BPF programs failed: {} (run with -v for the verifier log)", what,
                        bpf_error_text(err));
    }
    return {};
  }
  T* operator->() const { return p_; }
  T* get() const { return p_; }
  void reset() { if (p_) DestroyFn(p_); p_ = nullptr; }

 private:
  T* p_ = nullptr;
};

// AITRACE_SKELETON(sched) -> using SchedSkeleton = Skeleton<sched_bpf, ...> after including
// "sched.skel.h".
#define AITRACE_SKELETON_TYPE(name) \
  ::aitrace::Skeleton<name##_bpf, name##_bpf__open_opts, name##_bpf__load, name##_bpf__destroy>

}  // namespace aitrace
