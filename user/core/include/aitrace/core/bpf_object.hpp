// RAII owners for libbpf skeletons and links. Links are fd-owned: whatever way aitrace exits
// (return, exception, signal, crash) the kernel detaches them when the fds close.
#pragma once

#include "aitrace/core/bpf_token.hpp"
#include "aitrace/core/core_btf_subset.hpp"
#include "aitrace/core/counting_window.hpp"
#include "aitrace/core/result.hpp"
#include "aitrace/core/tp_btf_attach.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <cstdarg>
#include <string>
#include <string_view>
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

// The error for a failed skeleton load, from libbpf's negative errno and what libbpf logged
// during the load: the real cause (permission, memory, verifier, BTF), not "unsupported" for all.
Error load_error(const char* what, int err, std::string_view libbpf_log);

// While alive, keeps what libbpf logs at warn and info (the last 64 KiB) and still passes all of
// it to the printer that was set before (aitrace's -v logger, or libbpf's default).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
  const std::string& text() const { return text_; }

 private:
  static int print(enum libbpf_print_level level, const char* format, va_list args);
  libbpf_print_fn_t previous_ = nullptr;
  LibbpfLogCapture* outer_ = nullptr;
  std::string text_;
};

template <typename T, T* (*OpenFn)(const bpf_object_open_opts*), int (*LoadFn)(T*), void (*DestroyFn)(T*),
          const void* (*ElfFn)(size_t*)>
class Skeleton {
 public:
  Skeleton() = default;
  Skeleton(Skeleton&& o) noexcept : p_(std::exchange(o.p_, nullptr)), core_btf_(std::move(o.core_btf_)) {}
  Skeleton& operator=(Skeleton&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      core_btf_ = std::move(o.core_btf_);
    }
    return *this;
  }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;
  ~Skeleton() { reset(); }

  // core_subset: CO-RE against the subset of the kernel BTF the object's relocations reach
  // (core_btf_subset.hpp); false: against the whole kernel BTF (the tests compare the two).
  static Result<Skeleton> open(const char* what, bool core_subset = true) {
    Skeleton s;
    bpf_object_open_opts opts{};
    opts.sz = sizeof(opts);
    opts.bpf_token_path = bpf_token_path_for_libbpf();  // --bpf-token (bpf_token.hpp)
    if (core_subset) {
      size_t size = 0;
      const void* elf = ElfFn(&size);
      s.core_btf_ = CoreBtfFile::for_object(what, elf, size);
      opts.btf_custom_path = s.core_btf_.path();  // libbpf reads it during load
    }
    register_tp_btf_handler();  // before the open: libbpf picks a section's handler there
    errno = 0;
    s.p_ = OpenFn(&opts);
    if (!s.p_) return make_error(ErrorKind::runtime, "opening the {} BPF object failed: {}", what, bpf_error_text(errno));
    return s;
  }
  // window: the run's window every object of the run shares (counting_window.hpp); null for an
  // object that counts by itself, held from load to start() by its own .data.window map.
  Status load(const char* what, const CountingWindow* window = nullptr) {
    if (window) AITRACE_TRY(window->share_with(p_->obj, what));
    LibbpfLogCapture log;  // libbpf's messages tell a verifier rejection from a CO-RE miss
    resolve_tp_btf_targets(p_->obj);  // the tracepoints aitrace's facts lack (tp_btf_attach.hpp)
    int err = LoadFn(p_);
    core_btf_ = CoreBtfFile{};
    if (err) return load_error(what, err, log.text());
    if (window) AITRACE_TRY(window->map_into(p_->obj, what));
    return {};
  }
  T* operator->() const { return p_; }
  T* get() const { return p_; }
  void reset() { if (p_) DestroyFn(p_); p_ = nullptr; }

 private:
  T* p_ = nullptr;
  CoreBtfFile core_btf_;
};

// The object's window (bpf/common/programs.bpf.h): a collector holds its programs from load on
// (a store before load sets the initial value of the object's own .data.window), lets them count
// in start() and holds them again in stop(). In the driver's run the objects share the run's
// window (counting_window.hpp) instead: the store before load goes nowhere (the window is created
// held), and start()'s and stop()'s repeat the driver's own release and hold.
template <typename T>
void hold_counting(T* skel, bool held) {
  static_assert(sizeof(skel->data_window->aitrace_held) == sizeof(uint32_t), "CountingWindow's value is one u32");
  __atomic_store_n(&skel->data_window->aitrace_held, static_cast<uint32_t>(held), __ATOMIC_RELEASE);
}

// AITRACE_SKELETON(sched) -> using SchedSkeleton = Skeleton<sched_bpf, ...> after including
// "sched.skel.h".
#define AITRACE_SKELETON_TYPE(name) \
  ::aitrace::Skeleton<name##_bpf, name##_bpf__open_opts, name##_bpf__load, name##_bpf__destroy, name##_bpf__elf_bytes>

}  // namespace aitrace
