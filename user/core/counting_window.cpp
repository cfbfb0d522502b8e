#include "aitrace/core/counting_window.hpp"

#include "aitrace/core/bpf_object.hpp"
#include "aitrace/core/bpf_permission.hpp"
#include "aitrace/core/bpf_token.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

namespace aitrace {

namespace {
// The section every object's hold lives in, as libbpf names its map (bpf/common/programs.bpf.h).
constexpr const char* kWindowMap = ".data.window";
}  // namespace

Result<CountingWindow> CountingWindow::create() {
  bpf_map_create_opts opts = map_create_opts_with_token();
  opts.map_flags |= BPF_F_MMAPABLE;  // as libbpf creates a global-data map, which this one replaces
  CountingWindow w;
  w.fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY, "aitrace_window", sizeof(uint32_t), sizeof(uint32_t), 1, &opts);
  if (w.fd_ < 0) {
    const int err = errno;
    if (err == EPERM) return bpf_denied_error("creating the run's window map");
    return make_error(ErrorKind::runtime, "creating the run's window map failed: {}", bpf_error_text(err));
  }
  void* p = mmap(nullptr, static_cast<size_t>(sysconf(_SC_PAGESIZE)), PROT_READ | PROT_WRITE, MAP_SHARED, w.fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return make_error(ErrorKind::runtime, "mapping the run's window map failed: {}", bpf_error_text(err));
  }
  w.held_ = static_cast<uint32_t*>(p);
  w.hold();
  return w;
}

CountingWindow::CountingWindow(CountingWindow&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), held_(std::exchange(o.held_, nullptr)) {}

CountingWindow& CountingWindow::operator=(CountingWindow&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    held_ = std::exchange(o.held_, nullptr);
  }
  return *this;
}

CountingWindow::~CountingWindow() { reset(); }

void CountingWindow::reset() {
  if (held_) munmap(held_, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  if (fd_ >= 0) ::close(fd_);
  held_ = nullptr;
  fd_ = -1;
}

void CountingWindow::release() { __atomic_store_n(held_, 0u, __ATOMIC_RELEASE); }
void CountingWindow::hold() { __atomic_store_n(held_, 1u, __ATOMIC_RELEASE); }
bool CountingWindow::held() const { return __atomic_load_n(held_, __ATOMIC_ACQUIRE) != 0; }

namespace {
Result<bpf_map*> window_map(bpf_object* obj, const char* what) {
  bpf_map* map = bpf_object__find_map_by_name(obj, kWindowMap);
  if (!map) return make_error(ErrorKind::runtime, "the {} BPF object has no {} map", what, kWindowMap);
  return map;
}
}  // namespace

Status CountingWindow::share_with(bpf_object* obj, const char* what) const {
  auto found = window_map(obj, what);
  if (!found) return found.error();
  bpf_map* map = *found;
  // bpf_map__reuse_fd takes the shape of the map it is given, whatever the object declared: a
  // mismatch would surface as a verifier rejection of an out-of-bounds read, far from its cause.
  if (bpf_map__value_size(map) != sizeof(uint32_t) || bpf_map__max_entries(map) != 1)
    return make_error(ErrorKind::runtime, "the {} BPF object's {} map is not one u32", what, kWindowMap);
  if (int err = bpf_map__reuse_fd(map, fd_))
    return make_error(ErrorKind::runtime, "sharing the run's window with the {} BPF object failed: {}", what,
                      bpf_error_text(-err));
  return {};
}

// libbpf 1.4 maps every global-data map's image onto the map itself in the skeleton's load, a
// reused one included. From 1.5 on that happens where the map's initial value is written, which
// is skipped for a reused map: the skeleton's view stays on the object's private image, and the
// collectors' own stores (hold_counting) would go nowhere. Mapping the window there again is a
// no-op on 1.4 and the fix on later versions.
Status CountingWindow::map_into(bpf_object* obj, const char* what) const {
  auto found = window_map(obj, what);
  if (!found) return found.error();
  size_t size = 0;
  void* view = bpf_map__initial_value(*found, &size);
  if (!view) return make_error(ErrorKind::runtime, "the {} BPF object's {} map has no image", what, kWindowMap);
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (mmap(view, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, bpf_map__fd(*found), 0) == MAP_FAILED) {
    const int err = errno;
    return make_error(ErrorKind::runtime, "mapping the run's window into the {} BPF object failed: {}", what,
                      bpf_error_text(err));
  }
  return {};
}

}  // namespace aitrace
