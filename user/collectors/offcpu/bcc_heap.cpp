// The program's replacement of the global operator new/delete (see bcc_heap.hpp for why): calloc
// inside a ZeroedAllocationsScope on this thread, malloc elsewhere; every delete is free. Every
// non-aligned form is replaced, so no block is allocated by one allocator and freed by another
// (under ASAN, libstdc++'s temporary buffers take nothrow new and give back through sized delete).
// The aligned forms keep the library's own pair.
#include "bcc_heap.hpp"

#include <cstdlib>
#include <new>

namespace aitrace {
namespace {
thread_local int g_zeroed_depth = 0;

void* allocate(std::size_t size) noexcept {
  if (size == 0) size = 1;
  return g_zeroed_depth ? std::calloc(1, size) : std::malloc(size);
}

void* allocate_or_throw(std::size_t size) {
  for (;;) {
    if (void* p = allocate(size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

ZeroedAllocationsScope::ZeroedAllocationsScope() { ++g_zeroed_depth; }
ZeroedAllocationsScope::~ZeroedAllocationsScope() { --g_zeroed_depth; }

}  // namespace aitrace

void* operator new(std::size_t size) { return aitrace::allocate_or_throw(size); }
void* operator new[](std::size_t size) { return aitrace::allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return aitrace::allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return aitrace::allocate(size); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
