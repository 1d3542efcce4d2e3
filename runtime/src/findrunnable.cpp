// findrunnable.cpp — where a worker with nothing local finds work, and how
// work is shared between Ps: find_runnable (Go's findRunnable), stealing
// from other Ps' rings and runnext slots, spinning, the idle list, wakep,
// and rehome().  The rules ("Finding work", "Wakeups", "Sharing work") are
// in the essay that opens proc.cpp.
#include <algorithm>

#include "internal.hpp"

namespace goro::detail {
namespace {

// ---- tuning -----------------------------------------------------------------

// A worker that found nothing keeps looking this long before it sleeps:
// about what sleeping in the poller and being woken costs the worker in
// CPU here (a syscall is ~2.3 µs on this paravirtualised guest, a futex
// switch between CPUs ~8 µs).  Spinning no longer than a sleep would cost
// never spends more than twice what the better choice in hindsight would
// have (the ski-rental bound); Go's spinning M likewise looks a few rounds,
// not for a fixed time.  It was 50 µs (the ~25 µs a cross-CPU wake takes to
// land): at 50 connections and one request per round trip the server is
// faster than the client, most spins ran out with nothing found, and the
// spinning cost 2.3 µs of CPU per request, 25% above the floor peer.  At
// 5 µs it costs ~0.3 µs; what is given up is ~5% of pipelined throughput
// (depth 16, 1 P), where the next batch often came 5–50 µs later.
constexpr std::int64_t kSpinNs = 5'000;
// A P's runnext is left alone this long by thieves (see steal_runnext).
// Long enough that the usual "ready, then park" pair completes (~100 ns),
// short enough that a G readied by a CPU-bound one waits only a little.
constexpr std::int64_t kRunnextGraceNs = 20'000;
// A P that woke from sleep less than kNibbleNs ago and has run fewer than
// kNibbleRuns goroutines since is "nibbling": rehome() moves waits off it.
constexpr std::uint32_t kNibbleRuns = 32;
constexpr std::int64_t kNibbleNs = 1'000'000;

// Takes victim's runnext if its owner has not scheduled for kRunnextGraceNs:
// the G that readied it is running on (CPU-bound, or blocked in a syscall)
// instead of parking, and the readied G would starve.  Before the grace
// period, leave it: the owner will most likely run it within a switch, on a
// warm cache, and a 25 µs cross-CPU wake is not worth it (Go: usleep(3)).
G* steal_runnext(P* p, P* v, std::int64_t now) noexcept {
  auto& seen = p->runnext_seen[static_cast<std::size_t>(v->id)];
  if (!v->runnext.load(std::memory_order_relaxed)) {
    seen.second = 0;
    return nullptr;
  }
  std::uint32_t tick = v->schedtick.load(std::memory_order_relaxed);
  if (seen.second == 0 || seen.first != tick) {
    seen = {tick, now};
    return nullptr;
  }
  if (now - seen.second < kRunnextGraceNs) return nullptr;
  seen.second = 0;
  G* g = v->runnext.load(std::memory_order_relaxed);
  if (g && v->runnext.compare_exchange_strong(g, nullptr, std::memory_order_acq_rel)) {
    p->steals.inc();
    return g;
  }
  return nullptr;
}

// A victim's ring once its backlog is kShareDelayNs old, or its runnext
// after the grace period.
G* try_steal(P* p) noexcept {
  int n = sched.nprocs;
  int start = static_cast<int>(fastrand(p->rng) % static_cast<std::uint64_t>(n));
  std::int64_t now = 0;
  for (int i = 0; i < n; i++) {
    P* v = sched.ps[static_cast<std::size_t>((start + i) % n)].get();
    if (v == p) continue;
    bool queued = runq_len(v) > 0;
    if (!queued && !v->runnext.load(std::memory_order_relaxed)) continue;
    if (!now) now = now_ns();
    if (queued && backlog_old(v, now))
      if (G* g = runq_steal(p, v)) return g;
    if (v->runnext.load(std::memory_order_relaxed)) {
      if (G* g = steal_runnext(p, v, now)) return g;
    }
  }
  return nullptr;
}

// The re-check of a P that has just published itself idle: is there work it
// may take?  The global queue, its own inbox or ring, or another P's backlog
// once it is old enough to share (backlog_old) — the rule try_steal follows.
// Another P's inbox is not work for p (only that P takes it, and rehome()
// hands nothing to a P that is idle), nor is a younger backlog.  Counting
// them kept p circling (idle, re-check, leave idle, nothing to steal, idle
// again) for as long as the other P had anything queued or moved to it: at
// /sleep with 5,000 connections on 2 Ps, 5.7 million rounds in 5 s, each
// taking sched.lock twice — which also kept the other P from draining its
// inbox, so the circling fed itself.  Asleep, p is woken for a backlog that
// ages: its owner checks at every schedule (maybe_wakep), sysmon if the
// owner is stuck in one goroutine.
bool any_work(P* p) noexcept {
  if (sched.gq_size.load() > 0 || p->inbox_n.load() > 0 || runq_len(p) > 0) return true;
  std::int64_t now = 0;
  for (auto& q : sched.ps) {
    if (q.get() == p || runq_len(q.get()) == 0) continue;
    if (!now) now = now_ns();
    if (backlog_old(q.get(), now)) return true;
  }
  return false;
}

// Leaves the idle list (unless wakep() took p off it, which made p spinning).
void leave_idle(P* p) noexcept {
  std::lock_guard<SpinLock> l(sched.lock);
  sysmon_unpark();  // a P is getting busy: a sysmon parked because all were idle watches again
  if (p->idle) {
    P** pp = &sched.idle_head;
    while (*pp != p) pp = &(*pp)->idle_next;
    *pp = p->idle_next;
    p->idle = false;
    sched.npidle.fetch_sub(1);
  } else if (p->wake_spinning) {
    p->wake_spinning = false;
    p->spinning = true;  // wakep() already counted us in nmspinning
  }
}

}  // namespace

// Wakes one idle P if there is one and nobody is spinning.  Any thread.
void wakep() noexcept {
  if (sched.npidle.load() == 0 || sched.nmspinning.load() != 0) return;
  int zero = 0;
  if (!sched.nmspinning.compare_exchange_strong(zero, 1)) return;
  std::lock_guard<SpinLock> l(sched.lock);
  P* q = sched.idle_head;
  if (!q || !q->poller || sched.stopping.load()) {
    sched.nmspinning.fetch_sub(1);
    return;
  }
  sched.idle_head = q->idle_next;
  q->idle = false;
  q->wake_spinning = true;
  sched.npidle.fetch_sub(1);
  q->poller->wake();
}

void stop_spinning(P* p) noexcept {
  if (!p->spinning) return;
  p->spinning = false;
  // The last spinner found work.  Go wakes another P here in case there is
  // more; under "Sharing work" only work that waits is worth a wake: the
  // global queue, or a backlog of p's that is old (the found work is most
  // often p's own poller's, which p runs now).  Waking regardless woke the
  // idle P of 2 (only to find nothing) ~800 times a second at 50
  // connections.
  if (sched.nmspinning.fetch_sub(1) == 1) {
    if (sched.gq_size.load() > 0) wakep();
    else maybe_wakep(p);
  }
}

G* find_runnable(P* p) {
  std::int64_t idle_since = 0;  // when p first went idle in this call (read then, not per call)
  for (;;) {
    if (sched.stopping.load(std::memory_order_relaxed)) return nullptr;
    if (timers_due(p)) run_timers(p, now_ns());
    if (p->inbox_n.load(std::memory_order_relaxed)) drain_inbox(p);
    // Every kGlobalEvery-th schedule, local_pick and yield hand over to g0
    // so that this look happens; they already counted the tick, so read it,
    // do not tick again.  (Ticking here too made this branch almost never
    // run: a P that always had a G queued then polled only when its queue
    // ran dry — 5,000 connections sleeping on one P: 160 polls/s, 64
    // completions each, new requests waiting tens of ms in the CQ, and the
    // buffer ring empty at every poll.)
    if (p->schedtick.load(std::memory_order_relaxed) % kGlobalEvery == 0) {
      if (G* g = globq_get(p, 1)) return g;
      p->poller->poll(std::chrono::nanoseconds(0));
    }
    if (G* g = runq_get(p)) return g;
    if (G* g = globq_get(p, kRunqSize)) return g;
    if (p->poller->poll(std::chrono::nanoseconds(0)) > 0) {
      if (G* g = runq_get(p)) return g;
    }

    // Spin only as the last P awake, or when wakep() woke us for a backlog.
    // While another P is awake it polls its own ring and its backlog wakes
    // us (wakep) once old: a second spinner only takes a CPU from whoever
    // shares the machine (a load generator on the same cores), and its
    // polls keep its own connections' requests, one by one, from ever
    // letting it sleep — so rehome() never gathers them onto the busy P.
    // 2 Ps and wrk on 2 cores, hello at 50 connections: both Ps spinning
    // served 38k requests/s at 17.6 µs of CPU each, p99 9.7 ms.  A P that
    // may not spin still looks once at the others' queues (no syscall):
    // it is awake anyway, for a timer or a completion.
    if (!p->spinning && sched.npidle.load() < sched.nprocs - 1) {
      if (G* g = try_steal(p)) return g;
    } else {
      if (!p->spinning) {
        p->spinning = true;
        sched.nmspinning.fetch_add(1);
      }
      std::int64_t deadline = now_ns() + kSpinNs;
      do {
        if (sched.stopping.load(std::memory_order_relaxed)) return nullptr;
        G* g = try_steal(p);
        if (!g) g = globq_get(p, kRunqSize);
        if (!g && p->poller->poll(std::chrono::nanoseconds(0)) > 0) g = runq_get(p);
        if (!g && timers_due(p)) {
          run_timers(p, now_ns());
          g = runq_get(p);
        }
        if (!g && steal_timers(p, now_ns()) > 0) g = runq_get(p);
        if (g) {
          stop_spinning(p);
          return g;
        }
        __builtin_ia32_pause();
      } while (now_ns() < deadline);
    }

    // Go idle: publish, stop spinning, re-check, sleep.
    if (!idle_since) idle_since = now_ns();
    {
      std::lock_guard<SpinLock> l(sched.lock);
      if (sched.gq_size.load(std::memory_order_relaxed) > 0 || !p->inbox.empty() || sched.stopping.load()) continue;
      p->idle = true;
      p->idle_next = sched.idle_head;
      sched.idle_head = p;
      sched.npidle.fetch_add(1);
    }
    if (p->spinning) {
      p->spinning = false;
      sched.nmspinning.fetch_sub(1);
    }
    if (any_work(p)) {
      leave_idle(p);
      continue;
    }
    // Publish how long we will sleep, then look at the timers again: a
    // timer pushed meanwhile either sees sleep_until or is seen here.
    std::int64_t delay = next_timer_delay(p);
    p->sleep_until.store(delay < 0 ? INT64_MAX : now_ns() + delay);
    delay = next_timer_delay(p);
    if (p->hot_stacks > kHotStacks || sched.stack_pool_hot.load(std::memory_order_relaxed) > 0) {
      // Wake when the P has idled long enough to give stack pages back.
      std::int64_t left = idle_since + kScavengeNs - now_ns();
      if (left <= 0) scavenge_stacks(p);
      else delay = delay < 0 ? left : std::min(delay, left);
    }
    p->sleep_until.store(delay < 0 ? INT64_MAX : now_ns() + delay);
    p->poller->poll(std::chrono::nanoseconds(delay));
    p->sleep_until.store(0);
    p->woke_at = now_ns();
    p->runs_since_wake = 0;
    leave_idle(p);
    steal_timers(p, now_ns());  // what woke us may be a busy P's timer
  }
}

}  // namespace goro::detail

namespace goro {
using namespace detail;

namespace {
// rehome()'s unlock: hands g to `arg`'s inbox unless that P went idle
// meanwhile (then g stays here).
bool rehome_to(G* g, void* arg) {
  auto* t = static_cast<P*>(arg);
  std::lock_guard<SpinLock> l(sched.lock);
  if (t->idle || sched.stopping.load()) return false;
  t->inbox.push_back(g);
  t->inbox_n.store(static_cast<std::uint32_t>(t->inbox.size()));
  return true;
}
}  // namespace

bool rehome() {
  P* p = this_p();
  if (!p || !in_goroutine() || p->runs_since_wake >= kNibbleRuns) return false;
  std::int64_t now = now_ns();
  if (now - p->woke_at >= kNibbleNs) return false;
  // Waits gather on the lowest-numbered P awake, never the other way:
  // two nibbling Ps offering their waits to each other would trade them
  // back and forth for as long as both keep waking.  Not onto a P whose
  // backlog is old (it has more than it can run: 5,000 sleepers waking at
  // once), or its own waits would grow with every round.
  P* target = nullptr;
  {
    std::lock_guard<SpinLock> l(sched.lock);
    for (int i = 0; i < p->id && !target; i++) {
      P* q = sched.ps[static_cast<std::size_t>(i)].get();
      if (!q->idle && !q->wake_spinning && !(runq_len(q) > 0 && backlog_old(q, now))) target = q;
    }
  }
  if (!target) return false;
  park(WaitReason::migrating, rehome_to, target);
  return this_p() != p;
}

}  // namespace goro
