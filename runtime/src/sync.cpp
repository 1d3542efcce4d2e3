// sync.cpp — WaitGroup and Mutex on Parker (goroutine park or thread futex).
#include "goro/sync.hpp"

#include <mutex>

namespace goro {

// A waiter checks count_ under lock_ before it queues; add() takes lock_
// after its decrement reached zero: whichever comes second sees the other.
void WaitGroup::add(std::int64_t delta) {
  std::int64_t v = count_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (v < 0) detail::fatal("negative WaitGroup counter");
  if (v > 0 || delta > 0) return;
  lock_.lock();
  detail::Sudog* list = nullptr;
  while (detail::Sudog* s = waiters_.dequeue()) {
    s->next = list;
    list = s;
  }
  lock_.unlock();
  while (list) {
    detail::Sudog* s = list;
    list = s->next;  // before unpark: s lives on the waiter's stack
    s->parker->unpark();
  }
}

void WaitGroup::wait() {
  if (count_.load(std::memory_order_acquire) == 0) return;
  lock_.lock();
  if (count_.load(std::memory_order_acquire) == 0) {
    lock_.unlock();
    return;
  }
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
