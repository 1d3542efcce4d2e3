/// \file
/// WaitGroup and Mutex that park goroutines (and block OS
/// threads outside a goroutine), like Go's sync package.
///
/// \code{.cpp}
///   goro::WaitGroup wg;
///   for (int i = 0; i < n; i++) { wg.add(1); goro::go([&] { work(); wg.done(); }); }
///   wg.wait();
///
///   goro::Mutex mu;
///   { std::lock_guard<goro::Mutex> l(mu); ... }   // never hold it across long work
/// \endcode
///
/// Never use `std::mutex`/`std::condition_variable` to wait for another goroutine:
/// they block the worker thread, and the goroutine that would release them may
/// be queued on that very worker (runtime/README.md).
#pragma once

#include <atomic>
#include <cstdint>

#include "goro/detail/wait.hpp"

namespace goro {

/// Waits for a collection of goroutines (or threads) to finish, like Go's
/// sync.WaitGroup: add() before starting each, done() when each ends, wait()
/// for the counter to reach zero.
class WaitGroup {
 public:
  /// Adds delta (may be negative) to the counter; at zero, wakes all waiters.
  /// A negative counter aborts ("goro: negative WaitGroup counter").
  void add(std::int64_t delta);
  /// add(-1): one of the awaited goroutines is done.
  void done() { add(-1); }
  /// Blocks until the counter is zero.  Once wait() has returned, the
  /// WaitGroup may be destroyed, even while the done() that released it is
  /// still returning (like a std::latch), provided no other wait() is still
  /// blocked on it and no add() races with that wait (reusing a WaitGroup
  /// needs the previous wait() to have returned first, as in Go).
  void wait();

 private:
  // The counter (high 32 bits, signed) and the number of blocked waiters
  // (low 32 bits) in one word, as in Go's sync.WaitGroup: the add() that
  // takes the counter to zero sees in the same atomic step whether anyone
  // waits, and when nobody does it never touches the WaitGroup again — a
  // wait() that saw the zero may already have freed it.
  std::atomic<std::uint64_t> state_{0};
  detail::SpinLock lock_;
  detail::WaitQueue waiters_;   // guarded by lock_; holds exactly the waiters counted in state_
};

/// FIFO hand-off mutex: unlock() passes ownership straight to the longest
/// waiter, so nobody starves.  Not recursive; unlocking an unlocked Mutex aborts.
/// Meets Lockable, for std::lock_guard and std::unique_lock.
class Mutex {
 public:
  /// Blocks (parks a goroutine) until the mutex is the caller's.
  void lock();
  /// Takes the mutex if it is free; false at once otherwise.
  bool try_lock();
  /// Releases the mutex, or hands it to the longest waiter.
  void unlock();

 private:
  detail::SpinLock lock_;
  bool locked_ = false;         // guarded by lock_
  detail::WaitQueue waiters_;   // guarded by lock_
};

}  // namespace goro
