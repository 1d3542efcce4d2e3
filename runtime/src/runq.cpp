// runq.cpp — the run queues: each P's ring (the owner's put and get are
// inline in internal.hpp, for their hot callers), stealing half of a ring,
// the global queue, and a P's inbox of rehomed goroutines.
//
// The ring is Go's runq: a fixed array of kRunqSize with a head advanced by
// CAS (owner and thieves) and a tail written by the owner only, so a thief
// copies first and claims what it copied by CAS (Go's runqgrab).  runnext
// sits beside it (see proc.cpp).  A full ring spills half of itself to the
// global queue, which is a deque guarded by sched.lock.
#include <algorithm>

#include "internal.hpp"

namespace goro::detail {
namespace {

// Gs moved from the global queue to a local ring at once (Go: len/gomaxprocs+1,
// capped at half the ring so the rest stays visible to other Ps).
constexpr std::uint32_t kGlobalBatchMax = kRunqSize / 2;

}  // namespace

// The ring is full: move half of it plus g to the global queue.
bool runq_put_slow(P* p, G* g, std::uint32_t h, std::uint32_t t) noexcept {
  constexpr std::uint32_t n = kRunqSize / 2;
  if (t - h != kRunqSize) fatal("runq_put_slow: queue is not full");
  G* batch[n + 1];
  for (std::uint32_t i = 0; i < n; i++) batch[i] = p->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
  if (!p->runq_head.compare_exchange_strong(h, h + n, std::memory_order_acq_rel)) return false;
  batch[n] = g;
  std::lock_guard<SpinLock> l(sched.lock);
  sched.gq.insert(sched.gq.end(), batch, batch + n + 1);
  sched.gq_size.fetch_add(n + 1);
  return true;
}

// Steals half of victim's ring into p's ring; returns one G to run.  Called
// by p's owner.  (Go's runqgrab: copy, then claim the copied range by CAS.)
G* runq_steal(P* p, P* victim) noexcept {
  GORO_ASSERT_OWNER(p);
  std::uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
  for (;;) {
    std::uint32_t h = victim->runq_head.load(std::memory_order_acquire);
    std::uint32_t vt = victim->runq_tail.load(std::memory_order_acquire);
    std::uint32_t n = vt - h;
    n = n - n / 2;
    if (n == 0) return nullptr;
    if (n > kRunqSize / 2) continue;  // inconsistent h and vt: retry
    for (std::uint32_t i = 0; i < n; i++) {
      G* g = victim->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
      p->runq[(t + i) % kRunqSize].store(g, std::memory_order_relaxed);
    }
    if (victim->runq_head.compare_exchange_strong(h, h + n, std::memory_order_acq_rel)) {
      n--;
      G* g = p->runq[(t + n) % kRunqSize].load(std::memory_order_relaxed);
      if (n > 0) p->runq_tail.store(t + n, std::memory_order_release);
      p->steals.inc(n + 1);
      return g;
    }
  }
}

// Global queue: any thread.
void globq_put(G* g) noexcept {
  std::lock_guard<SpinLock> l(sched.lock);
  sched.gq.push_back(g);
  sched.gq_size.fetch_add(1);
}

// Takes a batch from the global queue; returns one, the rest go to p's ring.
G* globq_get(P* p, std::uint32_t max) noexcept {
  if (sched.gq_size.load() == 0) return nullptr;
  std::lock_guard<SpinLock> l(sched.lock);
  std::uint32_t size = sched.gq_size.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  std::uint32_t n = std::min(size, size / static_cast<std::uint32_t>(sched.nprocs) + 1);
  n = std::min({n, max, kGlobalBatchMax});
  G* first = nullptr;
  for (std::uint32_t i = 0; i < n; i++) {
    G* g = sched.gq.front();
    sched.gq.pop_front();
    if (!first) {
      first = g;
    } else {
      runq_put(p, g, false);
    }
  }
  sched.gq_size.fetch_sub(n);
  return first;
}

// Moves the Gs other Ps rehomed here onto p's ring.  Owner only.
void drain_inbox(P* p) noexcept {
  std::vector<G*> gs;
  {
    std::lock_guard<SpinLock> l(sched.lock);
    gs.swap(p->inbox);
    p->inbox_n.store(0, std::memory_order_relaxed);
  }
  for (G* g : gs) {
    make_runnable(g);
    runq_put(p, g, false);
  }
}

}  // namespace goro::detail
