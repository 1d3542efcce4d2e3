// netpoll's own lock (internal), for the few short critical sections netpoll
// shares between workers: a listener's AcceptQueue (accept_queue.hpp).
//
// Why not std::mutex: the AcceptQueue's lock is taken by a goroutine and
// released in park()'s unlock step (listener.cpp, wait_in_queue), which runs
// on the same worker thread but on another stack — a std::mutex (and TSan's
// model of one) wants its owner to unlock it.  Why not the runtime's
// goro::detail::SpinLock: it is not the runtime's API.  Critical sections
// are a few dozen instructions and never span a park or a syscall, so
// spinning (then yielding the CPU, the holder may be a preempted thread on
// this 2-core machine) is enough.
#pragma once

#include <sched.h>

#include <atomic>

namespace goro::netpoll::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return;
      if (spins < 64) __builtin_ia32_pause();
      else ::sched_yield();
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace goro::netpoll::detail
