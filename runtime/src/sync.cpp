// sync.cpp — WaitGroup and Mutex on Parker (goroutine park or thread futex).
#include "goro/sync.hpp"

#include <mutex>

namespace goro {

// A waiter counts itself in state_ and queues in one critical section of
// lock_, and only while the counter is above zero.  So the add() that takes
// the counter to zero with waiters counted finds, once it holds lock_, every
// one of them queued; and one that finds none counted returns at once.
void WaitGroup::add(std::int64_t delta) {
  std::uint64_t s = state_.fetch_add(static_cast<std::uint64_t>(delta) << 32, std::memory_order_acq_rel) +
                    (static_cast<std::uint64_t>(delta) << 32);
  auto v = static_cast<std::int32_t>(s >> 32);
  auto w = static_cast<std::uint32_t>(s);
  if (v < 0) detail::fatal("negative WaitGroup counter");
  if (v > 0 || w == 0) return;  // nobody to wake: the WaitGroup may be gone already
  // The waiters cannot leave wait() before we wake them, so the WaitGroup
  // lives until the unlock below.
  lock_.lock();
  detail::Sudog* list = nullptr;
  std::uint32_t n = 0;
  while (detail::Sudog* q = waiters_.dequeue()) {
    q->next = list;
    list = q;
    n++;
  }
  state_.fetch_sub(n, std::memory_order_acq_rel);
  lock_.unlock();
  while (list) {
    detail::Sudog* q = list;
    list = q->next;  // before unpark: q lives on the waiter's stack
    q->parker->unpark();
  }
}

void WaitGroup::wait() {
  if (state_.load(std::memory_order_acquire) >> 32 == 0) return;
  lock_.lock();
  std::uint64_t s = state_.load(std::memory_order_acquire);
  do {
    if (s >> 32 == 0) {
      lock_.unlock();
      return;
    }
  } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire));
  detail::Waiter w;
  waiters_.push(&w.sg);
  w.parker.park(WaitReason::waitgroup, lock_);
}

void Mutex::lock() {
  lock_.lock();
  if (!locked_) {
    locked_ = true;
    lock_.unlock();
    return;
  }
  detail::Waiter w;
  waiters_.push(&w.sg);
  w.parker.park(WaitReason::mutex, lock_);
  // unlock() handed the mutex to us: locked_ is still true.
}

bool Mutex::try_lock() {
  std::lock_guard<detail::SpinLock> l(lock_);
  if (locked_) return false;
  locked_ = true;
  return true;
}

void Mutex::unlock() {
  lock_.lock();
  if (!locked_) detail::fatal("unlock of unlocked Mutex");
  detail::Sudog* next = waiters_.dequeue();
  if (!next) locked_ = false;
  lock_.unlock();
  if (next) next->parker->unpark();
}

}  // namespace goro
