// signal.cpp — the stack overflow report (Go's signal_unix.go, for the one
// signal goro handles).
//
// Goroutine stacks do not grow; a guard page sits under each (stack.cpp).
// An access to it is a SIGSEGV, handled here on the worker's alternate
// signal stack (the goroutine's own stack is what broke): a fault within two
// pages under the running goroutine's stack prints "goro: goroutine N stack
// overflow" and the goroutine dump, and aborts.  Any other SIGSEGV goes to
// the handler that was installed before ours (ASan's, or the default).
#include <signal.h>

#include "internal.hpp"

namespace goro::detail {
namespace {

constexpr std::size_t kAltStackSize = 64 * 1024;

struct sigaction old_segv;

// Writes "goro: goroutine <id> stack overflow\n" without snprintf.
void report_overflow(std::uint64_t id) noexcept {
  char buf[80];
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + id % 10);
    id /= 10;
  } while (id);
  std::size_t k = 0;
  for (const char* s = "goro: goroutine "; *s;) buf[k++] = *s++;
  while (n) buf[k++] = digits[--n];
  for (const char* s = " stack overflow\n"; *s;) buf[k++] = *s++;
  buf[k] = 0;
  write_stderr(buf);
}

void overflow_handler(int sig, siginfo_t* info, void* uctx) {
  P* p = this_p();
  G* g = p ? p->curg : nullptr;
  auto* addr = static_cast<char*>(info->si_addr);
  if (g && !g->is_g0 && g->stack.lo && addr >= g->stack.lo - 2 * 4096 && addr < g->stack.lo) {
    report_overflow(g->id.load(std::memory_order_relaxed));
    dump_goroutines_on_abort();
    std::abort();
  }
  // Not ours: hand it to whoever was there before (ASan, or the default).
  if (old_segv.sa_flags & SA_SIGINFO) {
    if (old_segv.sa_sigaction) {
      old_segv.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
    old_segv.sa_handler(sig);
    return;
  }
  signal(SIGSEGV, SIG_DFL);  // re-executing the access faults again, fatally
}

}  // namespace

// Installed by every run(), unless already in place: someone (a test
// harness's crash handler) may have swapped it out since.
void install_overflow_handler() {
  struct sigaction cur {};
  sigaction(SIGSEGV, nullptr, &cur);
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == overflow_handler) return;
  struct sigaction sa {};
  sa.sa_sigaction = overflow_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
}

// Alternate signal stack so the overflow report runs off the broken stack.
void signal_stack_install(P* p) {
  p->altstack.resize(kAltStackSize);
  stack_t ss{};
  ss.ss_sp = p->altstack.data();
  ss.ss_size = p->altstack.size();
  sigaltstack(&ss, nullptr);
}

void signal_stack_remove(P* p) noexcept {
  stack_t ss{};
  ss.ss_sp = p->altstack.data();
  ss.ss_size = p->altstack.size();
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
}

}  // namespace goro::detail
