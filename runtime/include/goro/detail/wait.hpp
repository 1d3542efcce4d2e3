// goro/detail/wait.hpp — the waiting building blocks under Chan, select,
// WaitGroup and Mutex.  Not part of the stable API.
//
// Parker is "whoever is blocked": the current goroutine (parked with
// goro::park, woken with goro::ready) or, outside a goroutine, the current OS
// thread (a futex word).  That one switch is what lets every primitive keep OS
// thread semantics in thread mode.
#pragma once

#include <atomic>
#include <cstdint>

#include "goro/runtime.hpp"

namespace goro::detail {

// Futex wait/wake on a 32-bit word (Linux).  wait returns on wake, on a
// changed value or spuriously: callers loop.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1)) noexcept;
void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept;

// Prints "goro: msg" and the goroutine dump to stderr, then aborts (Go's throw).
[[noreturn]] void fatal(const char* msg) noexcept;

// Test-and-test-and-set lock for the short critical sections of channels and
// sync types (a few dozen instructions).  After spinning it yields the CPU:
// on this 2-core VM the holder may be a preempted OS thread.
class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire))
        return;
      if (spins < 64) {
        __builtin_ia32_pause();
      } else {
        yield_cpu();
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void yield_cpu() noexcept;
  std::atomic<bool> locked_{false};
};

// One blocking operation's sleeper.  Lives on the blocked party's stack; the
// waker must not touch it after unpark() (the sleeper may already be gone).
class Parker {
 public:
  Parker() noexcept : g_(current_g()) {}
  Parker(const Parker&) = delete;
  Parker& operator=(const Parker&) = delete;

  // Sleeps until unpark(); `lock` (held on entry) is released once the caller
  // is committed to sleeping, so an unpark() that follows the release is never
  // lost.
  void park(WaitReason reason, SpinLock& lock) noexcept;
  // Same, with a general unlock step (run with g == nullptr on OS threads).
  void park(WaitReason reason, UnlockFn unlock, void* arg) noexcept;
  // Wakes the sleeper.  Exactly once per park(); any thread.
  void unpark() noexcept;

 private:
  G* g_;
  std::atomic<std::uint32_t> woken_{0};
};

// Wait queue node (Go's sudog): a Parker waiting on one channel/case.
struct ChanCore;
struct SelectState;
struct Sudog {
  Parker* parker = nullptr;
  void* elem = nullptr;  // send: T* to move from; recv: std::optional<T>* to fill
  Sudog* next = nullptr;
  Sudog* prev = nullptr;
  SelectState* sel = nullptr;  // non-null when part of a select
  int index = 0;               // case index within the select
  bool success = false;        // true: value transferred; false: channel closed
};

// A single wait: the Parker and its queue node, on the waiting goroutine's
// (or thread's) stack.  Queue `sg`, then `parker.park(...)`.
struct Waiter {
  Parker parker;
  Sudog sg;
  explicit Waiter(void* elem = nullptr) noexcept {
    sg.parker = &parker;
    sg.elem = elem;
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
};

// Shared by the sudogs of one select: the first channel to CAS `done` from -1
// to its case index wins; the others skip the sudog.
struct SelectState {
  std::atomic<int> done{-1};
};

// Intrusive FIFO of sudogs.  Guarded by the owning object's lock.
class WaitQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push(Sudog* s) noexcept {
    s->next = nullptr;
    s->prev = tail_;
    if (tail_) {
      tail_->next = s;
    } else {
      head_ = s;
    }
    tail_ = s;
  }
  void remove(Sudog* s) noexcept {
    if (s->prev) {
      s->prev->next = s->next;
    } else if (head_ == s) {
      head_ = s->next;
    } else {
      return;  // not queued (already dequeued by a waker)
    }
    if (s->next) {
      s->next->prev = s->prev;
    } else {
      tail_ = s->prev;
    }
    s->next = s->prev = nullptr;
  }
  // Pops the first sudog that may be woken: a select's sudog is skipped when
  // another of its cases already won.
  Sudog* dequeue() noexcept {
    while (Sudog* s = head_) {
      remove(s);
      if (s->sel) {
        int expected = -1;
        if (!s->sel->done.compare_exchange_strong(expected, s->index, std::memory_order_acq_rel))
          continue;
      }
      return s;
    }
    return nullptr;
  }

 private:
  Sudog* head_ = nullptr;
  Sudog* tail_ = nullptr;
};

}  // namespace goro::detail
