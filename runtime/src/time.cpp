// time.cpp — timers and sleeping (Go's time.go, for the one kind of timer
// goro has: a sleeping goroutine).
//
// Each P has a min-heap of (when, seq, G) under its timers_lock.  In a
// goroutine, sleep_until parks the G and pushes it on its own P's heap in
// park's unlock step, on the worker, once the G's context is saved — so only
// the owner ever pushes.  The owner pops the timers that are due whenever it
// schedules (local_pick, yield, find_runnable), never before their deadline
// (it compares against the steady clock), and sleeps in poll() no longer than
// until its earliest one.  Equal deadlines run in push order (seq).  A burst
// of due timers goes to the ring only until it is half full; the rest stay
// in the heap, due, until the ring drains (run_timers_of says why).
//
// An owner busy with a goroutine that does not park cannot run its timers,
// so any other worker that is idle or spinning pops them once they are
// kTimerStealNs overdue (steal_timers), readying the sleepers onto its own
// P; an idle worker sleeps no longer than until some P's timers become
// stealable, and a push that makes a busy P's earliest timer earlier wakes a
// sleeper that would otherwise oversleep it (wake_sleeper_for).  So the heap
// has one pusher and many poppers, all under timers_lock; next_timer lets
// everyone look without the lock.
//
// Outside a goroutine sleep_* sleeps the OS thread.
#include "goro/time.hpp"

#include <algorithm>
#include <thread>

#include "internal.hpp"

namespace goro::detail {
namespace {

// How full run_timers fills the ring with due sleepers (see run_timers_of).
// Half the ring: the other half takes what is spawned and readied meanwhile
// without spilling to the global queue.
constexpr std::uint32_t kTimerRunqFill = kRunqSize / 2;

struct TimerLater {
  bool operator()(const Timer& a, const Timer& b) const noexcept {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
  }
};

// Caller holds p->timers_lock.
void timers_changed(P* p) noexcept {
  p->next_timer.store(p->timers.empty() ? INT64_MAX : p->timers.front().when, std::memory_order_release);
  p->ntimers.store(p->timers.size(), std::memory_order_relaxed);
}

// p's earliest timer is now `when`.  If p stays busy (a goroutine that never
// parks), only an idle worker can run it, kTimerStealNs late (steal_timers);
// make sure one will be awake by then (Go's wakeNetPoller).  Pairs with the
// sleeper's publish-then-recheck in find_runnable: with sequentially
// consistent atomics either we see its sleep_until or it sees our timer.
void wake_sleeper_for(P* p, std::int64_t when) noexcept {
  std::int64_t due = when + kTimerStealNs;
  P* late = nullptr;
  for (auto& v : sched.ps) {
    if (v.get() == p) continue;
    std::int64_t until = v->sleep_until.load();
    if (until == 0) return;          // awake: it will see the timer
    if (until <= due) return;        // will wake in time by itself
    late = v.get();
  }
  if (!late) return;
  // Under sched.lock, where a worker that is stopping takes its poller away.
  std::lock_guard<SpinLock> l(sched.lock);
  if (late->poller) late->poller->wake();
}

// Owner only: the one place a timer is added.
void timer_push(P* p, std::int64_t when, G* g) {
  GORO_ASSERT_OWNER(p);
  bool front;
  {
    std::lock_guard<SpinLock> l(p->timers_lock);
    p->timers.push_back(Timer{when, p->timer_seq++, g});
    std::push_heap(p->timers.begin(), p->timers.end(), TimerLater{});
    front = p->timers.front().g == g;
    timers_changed(p);
  }
  if (front) wake_sleeper_for(p, when);
}

// Readies the Gs on `from`'s heap whose time has come, in (when, seq) order,
// onto the tail of `to`'s ring so they run in that order, until that ring
// holds kTimerRunqFill; the rest stay in the heap, due, in order, and go
// out as the ring drains (every schedule looks).  `to` is the calling
// worker's P (ready_on checks it in Debug builds).  Returns how many.
//
// Why not all at once: sleepers wake in bursts (5,000 connections each
// sleeping 100 ms, having started together), and a burst of thousands
// overflowed the ring into the global queue.  Everything readied after it
// then waited behind the whole burst — new requests, spawned as the poller
// delivered them, started their own 100 ms only when it ended, so the next
// burst came back as dense as this one and the server idled between them
// (both CPUs idle for tens of ms every wave: 50-75% of the ideal req/s on
// one P).  And a P whose global queue is not empty takes from it at the
// every-61st look instead of polling, so requests piled up unreaped and
// overran the poller's buffer ring.  Held in the heap, a burst is never
// more than kTimerRunqFill ahead of new work.
int run_timers_of(P* to, P* from, std::int64_t now) noexcept {
  if (from->next_timer.load(std::memory_order_acquire) > now) return 0;
  std::uint32_t queued = runq_len(to);
  if (queued >= kTimerRunqFill) return 0;
  std::uint32_t room = kTimerRunqFill - queued;
  int n = 0;
  {
    std::lock_guard<SpinLock> l(from->timers_lock);
    while (static_cast<std::uint32_t>(n) < room && !from->timers.empty() && from->timers.front().when <= now) {
      std::pop_heap(from->timers.begin(), from->timers.end(), TimerLater{});
      G* g = from->timers.back().g;
      from->timers.pop_back();
      ready_on(to, g, false);
      n++;
    }
    if (n) timers_changed(from);
  }
  if (n) maybe_wakep(to);
  return n;
}

}  // namespace

void timer_add(std::int64_t when, G* g) { timer_push(this_p(), when, g); }

int run_timers(P* p, std::int64_t now) noexcept { return run_timers_of(p, p, now); }

// Runs other Ps' timers that are overdue by kTimerStealNs (their owners are
// busy).  Returns how many Gs it readied onto p.
int steal_timers(P* p, std::int64_t now) noexcept {
  int n = 0;
  for (auto& v : sched.ps) {
    if (v.get() == p) continue;
    std::int64_t next = v->next_timer.load(std::memory_order_relaxed);
    if (next != INT64_MAX && next + kTimerStealNs <= now) n += run_timers_of(p, v.get(), now - kTimerStealNs);
  }
  return n;
}

// How long an idle p may sleep: until its own next timer, or until another
// P's next timer becomes stealable.  -1: no timers anywhere.
std::int64_t next_timer_delay(P* p) noexcept {
  std::int64_t until = p->next_timer.load(std::memory_order_relaxed);
  for (auto& v : sched.ps) {
    if (v.get() == p) continue;
    std::int64_t next = v->next_timer.load(std::memory_order_relaxed);
    if (next != INT64_MAX) until = std::min(until, next + kTimerStealNs);
  }
  if (until == INT64_MAX) return -1;
  std::int64_t d = until - now_ns();
  return d < 0 ? 0 : d;
}

}  // namespace goro::detail

namespace goro {

void sleep_for(std::chrono::nanoseconds d) {
  if (d <= d.zero()) return;
  sleep_until(std::chrono::steady_clock::now() + d);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  if (!in_goroutine()) {
    // std::this_thread::sleep_until loops on EINTR and uses the steady clock.
    std::this_thread::sleep_until(t);
    return;
  }
  if (t <= std::chrono::steady_clock::now()) return;
  std::int64_t when = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  park(WaitReason::sleep, [](G* g, void* arg) {
    detail::timer_add(*static_cast<std::int64_t*>(arg), g);
    return true;
  }, &when);
}

}  // namespace goro
