/// \file
/// A one-shot broadcast that wakes idle waiters.
///
/// The server fires it once when graceful shutdown begins: every connection
/// parked waiting for its next request wakes, sees the server draining, and
/// closes (after serving any request already in its socket buffer).
#pragma once

#include <atomic>
#include <mutex>

namespace goro::netpoll {

/// A one-shot broadcast that ends waits: netpoll waits given it return
/// -ECANCELED once it fires (see interrupt.hpp).
class Interrupt {
 public:
  /// Not fired; makes the eventfd (aborts if it cannot).
  Interrupt();
  ~Interrupt();
  Interrupt(const Interrupt&) = delete;
  Interrupt& operator=(const Interrupt&) = delete;

  /// Fires the interrupt.  Idempotent; any thread may call it (not a signal
  /// handler: use a thread that waits for signals).
  void fire();
  /// True once fire() was called.
  bool fired() const { return fired_.load(std::memory_order_acquire); }

  /// An eventfd that becomes (and stays) readable once fired, for poll(2).
  int fd() const { return fd_; }

  /// A goroutine's wait on a socket, registered with the interrupt.
  ///
  /// Goroutine waits cannot poll the eventfd beside their own fd (one parked
  /// operation per goroutine), so they enroll instead: fire() shuts down every
  /// enrolled socket, which completes its pending wait.  An Enrollment lives
  /// on the waiter's stack for the duration of one wait.
  struct Enrollment {
    int fd;                        ///< the socket fire() shuts down
    Enrollment* prev = nullptr;    ///< list links, guarded by the Interrupt
    Enrollment* next = nullptr;    ///< list links, guarded by the Interrupt
  };
  /// Registers `e` for fire().  False (and not enrolled) if already fired.
  bool enroll(Enrollment* e) const;
  /// Takes `e` off the list once its wait is over (fired or not).
  void withdraw(Enrollment* e) const;

 private:
  int fd_;
  std::atomic<bool> fired_{false};
  mutable std::mutex mu_;  // guards the list and orders fire() against enroll()
  mutable Enrollment* head_ = nullptr;
};

}  // namespace goro::netpoll
