// goro::pg::Pool (see pool.hpp).  One SpinLock guards the idle stack, the
// count of open connections and the FIFO of waiters; nothing slow (connect,
// PQfinish, a query) ever runs under it.
//
// Invariant: open_ counts every connection that holds a slot — idle, leased
// or being opened — and never exceeds opts_.size.  A slot changes hands
// without changing open_: a returned connection goes straight to the first
// waiter, and a closed one's slot lets the first waiter open a new one.
#include "goro/pg/pool.hpp"

#include <mutex>
#include <utility>

namespace goro::pg {

struct Pool::Waiter {
  enum Outcome { waiting, got_conn, may_open, expired };
  detail::Parker parker;
  Deadline deadline;
  Outcome outcome = waiting;
  std::unique_ptr<Conn> conn;
  Waiter* next = nullptr;
};

Pool::Pool(Options opts) : opts_(std::move(opts)) { counts_.size = opts_.size; }

Pool::~Pool() = default;

Pool::Lease& Pool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = o.pool_;
    conn_ = std::move(o.conn_);
    reused_ = o.reused_;
    o.pool_ = nullptr;
  }
  return *this;
}

void Pool::Lease::release() noexcept {
  if (pool_ && conn_) pool_->put(std::move(conn_));
  pool_ = nullptr;
  conn_.reset();
}

Status Pool::acquire(Deadline d, Lease& out) {
  out.release();
  Waiter w;
  {
    std::unique_lock l(lock_);
    counts_.acquires++;
    if (!idle_.empty()) {
      out.conn_ = std::move(idle_.back());
      idle_.pop_back();
      l.unlock();
      out.pool_ = this;
      out.reused_ = true;
      return {};
    }
    if (open_ < opts_.size) {
      open_++;
      l.unlock();
      return open_one(d, out);
    }
    if (netpoll::Clock::now() >= d) {
      counts_.busy++;
      return {Errc::busy, "database busy: every pooled connection is in use"};
    }
    w.deadline = d;
    (tail_ ? tail_->next : head_) = &w;
    tail_ = &w;
    waiting_++;
    counts_.waits++;
    l.release();
  }
  w.parker.park(WaitReason::semacquire, lock_);  // unlocks lock_ once asleep
  switch (w.outcome) {
    case Waiter::got_conn:
      out.pool_ = this;
      out.conn_ = std::move(w.conn);
      out.reused_ = true;
      return {};
    case Waiter::may_open:
      return open_one(d, out);
    default:
      return {Errc::busy, "database busy: no pooled connection came free before the deadline"};
  }
}

Status Pool::open_one(Deadline d, Lease& out) {
  std::unique_ptr<Conn> c;
  Status st = Conn::open(opts_.conninfo, d, c);
  if (st.ok() && opts_.setup) st = opts_.setup(*c, d);
  {
    std::lock_guard l(lock_);
    (st.ok() ? counts_.connects : counts_.connect_failures)++;
  }
  if (!st.ok()) {
    c.reset();
    put(nullptr);  // the slot goes to a waiter, or back
    return st;
  }
  out.pool_ = this;
  out.conn_ = std::move(c);
  out.reused_ = false;
  return {};
}

void Pool::put(std::unique_ptr<Conn> c) noexcept {
  std::unique_ptr<Conn> doomed;
  if (c && !c->healthy()) doomed = std::move(c);
  Waiter* wake = nullptr;  // woken after the lock is dropped
  Waiter** wake_tail = &wake;
  {
    std::lock_guard l(lock_);
    if (doomed) counts_.discarded++;
    auto now = netpoll::Clock::now();
    bool handed = false;
    while (head_ && !handed) {
      Waiter* w = head_;
      head_ = w->next;
      if (!head_) tail_ = nullptr;
      waiting_--;
      w->next = nullptr;
      if (w->deadline <= now) {
        w->outcome = Waiter::expired;
        counts_.busy++;
      } else if (c) {
        w->outcome = Waiter::got_conn;
        w->conn = std::move(c);
        handed = true;
      } else {
        w->outcome = Waiter::may_open;  // the freed slot passes to w
        handed = true;
      }
      *wake_tail = w;
      wake_tail = &w->next;
    }
    if (!handed) {
      if (c) {
        idle_.push_back(std::move(c));
      } else {
        open_--;
      }
    }
  }
  while (wake) {
    Waiter* next = wake->next;  // wake's frame may vanish once it runs
    wake->parker.unpark();
    wake = next;
  }
  // doomed's PQfinish (a Terminate message and close) runs here, unlocked.
}

Status Pool::run(Deadline d, const std::function<Status(Conn&)>& fn) {
  // A connection that sat idle may have died with a database restart; each
  // such one fails at its first use and is closed.  Go on until a try on a
  // connection that was not idle, or one that works: at most size + 1 tries.
  for (;;) {
    Lease c;
    if (Status st = acquire(d, c); !st.ok()) return st;
    Status st = fn(*c);
    if (st.code == Errc::unavailable && c.reused()) continue;
    return st;
  }
}

Pool::Stats Pool::stats() const {
  std::lock_guard l(lock_);
  Stats s = counts_;
  s.open = open_;
  s.idle = static_cast<int>(idle_.size());
  s.waiting = waiting_;
  return s;
}

}  // namespace goro::pg
