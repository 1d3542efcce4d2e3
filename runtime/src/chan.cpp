// chan.cpp — channel operations and select (Go's chan.go and select.go).
//
// A channel is a lock, a ring buffer and two queues of waiting parties
// (Sudog).  A send that finds a waiting receiver hands the value straight to
// the receiver's stack and readies it; otherwise it buffers, or waits in
// sendq.  Receives mirror that.  The Sudog to wake is always woken after the
// channel lock is released, so the woken party never spins on our lock.
// Invariants: goro/chan.hpp (ChanCore).
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "goro/select.hpp"
#include "internal.hpp"

namespace goro::detail {
namespace {

[[noreturn]] void throw_closed(const char* what) { throw closed_channel_error(what); }

// After a plain send (recv) queued itself: the opposite queue must be empty,
// since send_locked (recv_locked) just dequeued all of it.  Not checked for
// select, which may legally wait both ways on one channel (goro/chan.hpp).
void check_invariants(const ChanCore& c, const WaitQueue& opposite) noexcept {
  if (!opposite.empty()) fatal("channel has a waiting sender and a waiting receiver outside a select");
  if (c.count > c.cap) fatal("channel buffer overflow");
}

std::uint64_t& select_rng() noexcept {
  thread_local std::uint64_t s = 0x243F6A8885A308D3ULL ^ reinterpret_cast<std::uintptr_t>(&s);
  return s;
}

// Accessed fresh on each call (never cached across a park: see README).
GORO_NOIPA std::uint32_t rand_below(std::uint32_t n) noexcept {
  GORO_OPAQUE();
  std::uint64_t& s = select_rng();
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return static_cast<std::uint32_t>(((s * 0x2545F4914F6CDD1DULL) >> 32) % n);
}

}  // namespace

bool ChanCore::send_locked(void* src, Sudog** wake) {
  if (Sudog* r = recvq.dequeue()) {
    move_to(src, r->elem);
    r->success = true;
    *wake = r;
    return true;
  }
  if (count < cap) {
    slot_put((head + count) % cap, src);
    count++;
    return true;
  }
  return false;
}

bool ChanCore::recv_locked(void* dst, Sudog** wake) {
  if (Sudog* s = sendq.dequeue()) {
    if (cap == 0) {
      move_to(s->elem, dst);
    } else {
      // Buffer is full: take the head, the sender's value goes to the tail.
      slot_take(head, dst);
      slot_put(head, s->elem);
      head = (head + 1) % cap;
    }
    s->success = true;
    *wake = s;
    return true;
  }
  if (count > 0) {
    slot_take(head, dst);
    head = (head + 1) % cap;
    count--;
    return true;
  }
  return false;
}

bool ChanCore::send(void* src, bool block) {
  lock.lock();
  if (closed) {
    lock.unlock();
    throw_closed("send on closed channel");
  }
  Sudog* wake = nullptr;
  if (send_locked(src, &wake)) {
    lock.unlock();
    if (wake) wake->parker->unpark();
    return true;
  }
  if (!block) {
    lock.unlock();
    return false;
  }
  Waiter w(src);
  sendq.push(&w.sg);
  check_invariants(*this, recvq);
  w.parker.park(WaitReason::chan_send, lock);
  if (!w.sg.success) throw_closed("send on closed channel");
  return true;
}

bool ChanCore::recv(void* dst, bool block) {
  lock.lock();
  Sudog* wake = nullptr;
  if (recv_locked(dst, &wake)) {
    lock.unlock();
    if (wake) wake->parker->unpark();
    return true;
  }
  if (closed) {
    lock.unlock();
    return true;  // *dst stays nullopt
  }
  if (!block) {
    lock.unlock();
    return false;
  }
  Waiter w(dst);
  recvq.push(&w.sg);
  check_invariants(*this, sendq);
  w.parker.park(WaitReason::chan_receive, lock);
  return true;  // sg.success false: closed, *dst empty
}

void ChanCore::close() {
  lock.lock();
  if (closed) {
    lock.unlock();
    throw_closed("close of closed channel");
  }
  closed = true;
  Sudog* list = nullptr;
  while (Sudog* s = recvq.dequeue()) {
    s->success = false;
    s->next = list;
    list = s;
  }
  while (Sudog* s = sendq.dequeue()) {
    s->success = false;
    s->next = list;
    list = s;
  }
  lock.unlock();
  while (list) {
    Sudog* s = list;
    list = s->next;  // read before unpark: s dies with its owner's frame
    s->parker->unpark();
  }
}

std::size_t ChanCore::size() {
  std::lock_guard<SpinLock> l(lock);
  return count;
}

// ---- select --------------------------------------------------------------------

namespace {

// The distinct channels of a select, in address order.  No allocation for
// up to 16 cases.
struct SelLocks {
  ChanCore* inline_buf[16];
  std::vector<ChanCore*> heap;
  ChanCore** v = inline_buf;
  std::size_t n = 0;

  explicit SelLocks(int cases) {
    if (cases > 16) {
      heap.resize(static_cast<std::size_t>(cases));
      v = heap.data();
    }
  }
  void add(ChanCore* c) noexcept { v[n++] = c; }
  void sort_unique() {
    std::sort(v, v + n);
    n = static_cast<std::size_t>(std::unique(v, v + n) - v);
  }
  void lock_all() noexcept {
    for (std::size_t i = 0; i < n; i++) v[i]->lock.lock();
  }
  // Must not touch *this after the last unlock: as park's unlock step, that
  // unlock lets a waker ready the selecting G, which may then return and
  // destroy this object on another worker.
  void unlock_all() noexcept {
    ChanCore* const* vv = v;
    for (std::size_t i = n; i-- > 0;) vv[i]->lock.unlock();
  }
};

bool unlock_all_fn(G*, void* arg) {
  static_cast<SelLocks*>(arg)->unlock_all();
  return true;
}

}  // namespace

int select_impl(SelectCase* cases, int n, bool block) {
  if (n == 0) {
    if (!block) return -1;
    if (in_goroutine()) {
      park(WaitReason::select_no_cases, nullptr, nullptr);  // nobody readies it
    }
    for (;;) pause();
  }
  // Poll in a random order (fairness); lock in address order (no deadlock
  // between two selects over the same channels).
  int order_buf[16];
  std::vector<int> order_vec;
  int* poll_order = order_buf;
  if (n > 16) {
    order_vec.resize(static_cast<std::size_t>(n));
    poll_order = order_vec.data();
  }
  for (int i = 0; i < n; i++) {
    int j = static_cast<int>(rand_below(static_cast<std::uint32_t>(i + 1)));
    poll_order[i] = poll_order[j];
    poll_order[j] = i;
  }
  SelLocks locks(n);
  for (int i = 0; i < n; i++)
    if (cases[i].c) locks.add(cases[i].c);
  locks.sort_unique();

  locks.lock_all();
  for (int k = 0; k < n; k++) {
    int i = poll_order[k];
    SelectCase& sc = cases[i];
    if (!sc.c) continue;  // a nil channel is never ready
    Sudog* wake = nullptr;
    bool done = false;
    if (sc.send) {
      if (sc.c->closed) {
        locks.unlock_all();
        throw_closed("send on closed channel");
      }
      done = sc.c->send_locked(sc.elem, &wake);
    } else {
      done = sc.c->recv_locked(sc.elem, &wake) || sc.c->closed;
    }
    if (done) {
      locks.unlock_all();
      if (wake) wake->parker->unpark();
      return i;
    }
  }
  if (!block) {
    locks.unlock_all();
    return -1;
  }

  // Wait on every channel at once; the first to CAS st.done wins.
  Parker parker;
  SelectState st;
  Sudog sg_buf[8];
  std::vector<Sudog> sg_vec;
  Sudog* sgs = sg_buf;
  if (n > 8) {
    sg_vec.resize(static_cast<std::size_t>(n));
    sgs = sg_vec.data();
  }
  for (int i = 0; i < n; i++) {
    if (!cases[i].c) continue;
    Sudog& sg = sgs[i];
    sg.parker = &parker;
    sg.elem = cases[i].elem;
    sg.sel = &st;
    sg.index = i;
    (cases[i].send ? cases[i].c->sendq : cases[i].c->recvq).push(&sg);
  }
  parker.park(WaitReason::select, unlock_all_fn, &locks);

  // Woken by the winner, who already dequeued its sudog; take out the rest.
  int won = st.done.load(std::memory_order_acquire);
  if (won < 0 || won >= n) fatal("select woken without a winning case");
  locks.lock_all();
  for (int i = 0; i < n; i++) {
    if (!cases[i].c || i == won) continue;
    (cases[i].send ? cases[i].c->sendq : cases[i].c->recvq).remove(&sgs[i]);
  }
  locks.unlock_all();
  if (cases[won].send && !sgs[won].success) throw_closed("send on closed channel");
  return won;
}

}  // namespace goro::detail
