// stack.cpp — goroutine stacks.
//
// Each stack is its own anonymous mapping, reserved (MAP_NORESERVE) and
// committed lazily by page faults: a goroutine that parks after a few calls
// holds a page or two of RAM, whatever the reserved size.
//
// Guard page: the lowest page of the mapping faults on any access, so an
// overflow is a SIGSEGV in the guard (reported by signal.cpp's handler as
// "goro: goroutine N stack overflow").  MADV_GUARD_INSTALL (Linux 6.13+)
// installs it in the page tables without splitting the mapping; older
// kernels get mprotect(PROT_NONE), which splits every stack into two VMAs —
// with vm.max_map_count at its default 65530 that caps a process near 32,000
// goroutines (raise it with sysctl vm.max_map_count for more).
//
// Size: 256 KiB reserved.  Measured (goro-bench BM_goro_stack_touched): a
// goroutine that formats with snprintf and ostringstream, fills a std::map
// and throws and catches an exception 8 frames deep touches 20 KiB; the
// exception unwinder and iostreams are the deep parts.  256 KiB leaves a
// >10x margin for handler code (llhttp callbacks, spdlog/fmt) at no RAM cost:
// only touched pages are resident, and the address space is cheap (100,000
// goroutines reserve 25 GiB of the 128 TiB user half).  Goroutine stacks do
// not grow, so erring large is the safe side; 64 KiB would already be tight
// for a handler that formats a log line inside a catch block.
// GORO_STACK_KB overrides it (minimum 16).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

#if GORO_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace goro::detail {
namespace {

constexpr std::size_t kDefaultStack = 256 * 1024;

std::size_t page_size() noexcept {
  static const std::size_t ps = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

std::size_t compute_stack_size() noexcept {
  std::size_t sz = kDefaultStack;
  if (const char* env = std::getenv("GORO_STACK_KB")) {
    long kb = std::strtol(env, nullptr, 10);
    if (kb >= 16) sz = static_cast<std::size_t>(kb) * 1024;
  }
  std::size_t ps = page_size();
  return (sz + ps - 1) / ps * ps;
}

// -1 unknown, 1 MADV_GUARD_INSTALL works, 0 use mprotect.
std::atomic<int> g_guard_madvise{-1};

// Stacks mapped now (in use, or cached by a P or the pool): stats().stacks.
// One relaxed add next to an mmap or munmap costs nothing.
std::atomic<std::size_t> g_stacks_mapped{0};

}  // namespace

std::size_t stack_size() noexcept {
  static const std::size_t sz = compute_stack_size();
  return sz;
}

std::size_t stacks_mapped() noexcept { return g_stacks_mapped.load(std::memory_order_relaxed); }

Stack stack_new() {
  const std::size_t ps = page_size();
  const std::size_t size = stack_size();
  void* p = mmap(nullptr, size + ps, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) fatal("cannot mmap a goroutine stack (out of memory or vm.max_map_count)");
  g_stacks_mapped.fetch_add(1, std::memory_order_relaxed);
  char* base = static_cast<char*>(p);
  Stack s;
  s.lo = base + ps;
  s.size = static_cast<std::uint32_t>(size);
  int mode = g_guard_madvise.load(std::memory_order_relaxed);
  if (mode != 0) {
    if (madvise(base, ps, MADV_GUARD_INSTALL) == 0) {
      if (mode < 0) g_guard_madvise.store(1, std::memory_order_relaxed);
      return s;
    }
    if (errno != EINVAL) fatal("madvise(MADV_GUARD_INSTALL) failed on a goroutine stack");
    g_guard_madvise.store(0, std::memory_order_relaxed);
  }
  if (mprotect(base, ps, PROT_NONE) != 0)
    fatal("mprotect of a stack guard page failed (vm.max_map_count reached?)");
  return s;
}

void stack_free(Stack& s) noexcept {
  if (s.lo) {
#if GORO_ASAN
    // ASan's shadow outlives the mapping: the frames' redzones left here would
    // poison whatever the kernel maps at this address next (an io_uring ring
    // of a later run() was reported as a stack-buffer-underflow).
    __asan_unpoison_memory_region(s.lo, s.size);
#endif
    munmap(s.lo - page_size(), s.size + page_size());
    g_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
  }
  s = Stack{};
}

// Hands the physical pages back; the mapping (and its guard) stays.  The top
// page is kept: every goroutine touches it first, and keeping it saves a fault.
void stack_release_pages(Stack& s) noexcept {
  const std::size_t ps = page_size();
  if (s.size > ps) madvise(s.lo, s.size - ps, MADV_FREE);
  s.cold = true;
}

}  // namespace goro::detail
