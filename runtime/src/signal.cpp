// signal.cpp — the signals goro handles (Go's signal_unix.go, for two).
//
// SIGSEGV: the stack overflow report.  Goroutine stacks do not grow; a
// guard page sits under each (stack.cpp).  An access to it is a SIGSEGV,
// handled here on the worker's alternate signal stack (the goroutine's own
// stack is what broke): a fault within two pages under the running
// goroutine's stack prints "goro: goroutine N stack overflow" and the
// goroutine dump, and aborts.  Any other SIGSEGV goes to the handler that
// was installed before ours (ASan's, or the default).
//
// SIGQUIT: the goroutine dump with stacks on stderr, and the process goes
// on.  Go exits after it; goro does not, because the process one pokes to
// see what it is doing is usually a server that should keep serving.
// Dumping allocates, takes locks and reads debug info, none of which a
// signal handler may do: the handler writes a byte to a pipe, and a thread
// kept for that reads it and dumps.  Installed only over the default
// disposition, so a program's own SIGQUIT handling (or SIG_IGN) wins.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <thread>

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

// SIGQUIT's pipe: the handler writes, the dump thread reads.
int quit_pipe[2] = {-1, -1};

void quit_handler(int) {
  int saved = errno;
  char c = 0;
  ssize_t w = ::write(quit_pipe[1], &c, 1);  // full (dumps pending): this one folds into them
  (void)w;
  errno = saved;
}

void quit_loop() {
  char buf[64];
  for (;;) {
    ssize_t n = ::read(quit_pipe[0], buf, sizeof buf);  // signals sent meanwhile: one dump
    if (n > 0) {
      goro::dump_goroutines_to_stderr();
    } else if (n < 0 && errno != EINTR) {
      return;
    }
  }
}

}  // namespace

// At the first run() of each process: the pipe, the thread (which lives as
// long as the process, blocked in read; a dump outside run() says the
// runtime is not running) and the handler.  A forked child inherits the
// handler and the parent's pipe but not its thread, so its first run()
// makes its own.
void install_quit_handler() {
  static std::mutex mu;
  static pid_t owner = 0;
  std::lock_guard<std::mutex> l(mu);
  const pid_t me = getpid();
  if (owner == me) return;
  owner = me;
  struct sigaction cur {};
  sigaction(SIGQUIT, nullptr, &cur);
  const bool ours = !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == quit_handler;
  if (!ours && ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)) return;
  if (quit_pipe[0] >= 0) {
    close(quit_pipe[0]);
    close(quit_pipe[1]);
  }
  if (pipe2(quit_pipe, O_CLOEXEC) != 0) return;
  fcntl(quit_pipe[1], F_SETFL, O_NONBLOCK);
  // The thread takes no signals: they stay with the threads that expect them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::thread(quit_loop).detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  struct sigaction sa {};
  sa.sa_handler = quit_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGQUIT, &sa, nullptr);
}

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
