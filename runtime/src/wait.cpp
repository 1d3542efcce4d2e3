// wait.cpp — futex helpers, Parker, and the default futex poller.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "goro/detail/wait.hpp"

namespace goro::detail {

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  struct timespec ts {};
  struct timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  // FUTEX_WAIT's timeout is relative, measured on CLOCK_MONOTONIC.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

void SpinLock::yield_cpu() noexcept { sched_yield(); }

namespace {

bool unlock_spinlock(G*, void* lock) {
  static_cast<SpinLock*>(lock)->unlock();
  return true;
}

}  // namespace

void Parker::park(WaitReason reason, SpinLock& lock) noexcept {
  park(reason, unlock_spinlock, &lock);
}

void Parker::park(WaitReason reason, UnlockFn unlock, void* arg) noexcept {
  if (g_) {
    goro::park(reason, unlock, arg);
    return;
  }
  if (unlock) unlock(nullptr, arg);
  while (woken_.load(std::memory_order_acquire) == 0) futex_wait(&woken_, 0);
}

void Parker::unpark() noexcept {
  if (G* g = g_) {
    goro::ready(g);
    return;
  }
  woken_.store(1, std::memory_order_release);
  // The sleeper may return (and its stack frame die) as soon as it sees the
  // store; a FUTEX_WAKE on a dead address is harmless (no waiter, or EFAULT).
  futex_wake(&woken_, 1);
}

}  // namespace goro::detail

namespace goro {
namespace {

// The default poller: no I/O, just a futex word that wake() sets.  The flag
// makes wake() sticky: a wake that comes before poll() is not lost.
class FutexPoller final : public Poller {
 public:
  int poll(std::chrono::nanoseconds timeout) override {
    if (timeout.count() == 0) return 0;
    if (word_.exchange(0, std::memory_order_acq_rel) != 0) return 0;
    detail::futex_wait(&word_, 0, timeout);
    word_.store(0, std::memory_order_relaxed);
    return 0;
  }
  void wake() override {
    if (word_.exchange(1, std::memory_order_acq_rel) == 0) detail::futex_wake(&word_, 1);
  }

 private:
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace

std::unique_ptr<Poller> make_futex_poller() { return std::make_unique<FutexPoller>(); }

}  // namespace goro
