// The program's replacement of the global operator new/delete (see bcc_heap.hpp for why): calloc
// inside a ZeroedAllocationsScope on this thread, malloc elsewhere; delete is free. The other
// forms (new[], nothrow, sized delete) reach these two through libstdc++'s defaults, or pair
// with each other: the aligned forms keep their own pair.
#include "bcc_heap.hpp"

#include <cstdlib>
#include <new>

namespace aitrace {
namespace {
thread_local int g_zeroed_depth = 0;
}  // namespace

ZeroedAllocationsScope::ZeroedAllocationsScope() { ++g_zeroed_depth; }
ZeroedAllocationsScope::~ZeroedAllocationsScope() { --g_zeroed_depth; }

}  // namespace aitrace

void* operator new(std::size_t size) {
  if (size == 0) size = 1;
  for (;;) {
    void* p = aitrace::g_zeroed_depth ? std::calloc(1, size) : std::malloc(size);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
