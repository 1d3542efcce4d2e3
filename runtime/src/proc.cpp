// proc.cpp — the goroutine scheduler: Gs, switching, park/ready/yield, spawn.
//
// # Design
//
// goro runs goroutines (G) — stackful coroutines with their own mmap'd stack —
// on a fixed set of worker threads, as Go does.  The vocabulary is Go's:
//
//   G  a goroutine: saved stack pointer, stack, callable, state, wait reason.
//   P  a processor: a local run queue (a ring of 256 plus a `runnext` slot),
//      a timer heap, a poller, a cache of free Gs and stacks, counters.
//   M  an OS worker thread.  Here every M owns exactly one P for its whole
//      life, so "worker" names both.
//
// Go hands a P to another M when its M blocks in a syscall.  goro does not:
// a worker never blocks except inside its poller.  I/O goes through the
// poller (netpoll's io_uring ring per P) and everything else that blocks goes
// through goro::blocking(), which parks the G while a helper thread makes the
// call.  That keeps M:P at 1:1 and removes Go's P hand-off; goro's sysmon
// (sysmon.cpp) only wakes idle Ps, it never retakes a P.  The price is that a
// goroutine which blocks its thread anyway (a plain read(2), a std::mutex held
// for long) stalls its whole P — runtime/README.md says so.  There is no
// preemption either: a goroutine runs until it parks, yields or exits.
//
// ## Switching
//
// goro_ctx_switch (context_x86_64.S) saves callee-saved registers and the FP
// control words on the current stack and loads another stack pointer.  A G
// switches *directly* to the next runnable G of its P when one is at hand
// (runnext or the local ring) and to the P's g0 — the worker thread's own
// stack, where find_runnable runs and may block in the poller — otherwise.
// Whatever the switching-out G asked for (go back on the run queue, park,
// be freed) is recorded in P::pending and carried out by whoever runs next,
// right after the switch (after_switch): only then is the G's context saved,
// so only then may another worker see it.  That is Go's mcall/park_m split
// without the extra hop through g0 on the fast path.
//
// ## Finding work (find_runnable in findrunnable.cpp, Go's findRunnable)
//
//   1. every 61st schedule, the global queue first (so it cannot starve), and
//      a non-blocking poll (so a busy P still reaps I/O);
//   2. expired timers; runnext; the local ring; the global queue;
//      a non-blocking poll;
//   3. spin: steal half of a random victim's ring once it has waited
//      kShareDelayNs, or its runnext once its owner has not scheduled for
//      kRunnextGraceNs; retry the global queue, the poller and the timers
//      (other Ps' too, once kTimerStealNs late), for up to kSpinNs (5 µs,
//      about what sleeping and being woken would cost instead).  Only
//      the last P awake spins, or one that wakep() woke; any other looks
//      once for something to steal.
//   4. go idle: join the idle list, re-check every queue (see "wakeups"),
//      block in poller->poll(until the next timer, or until a busy P's timer
//      is kTimerStealNs late; then run it here — see time.cpp).
//
// runnext holds the G the running G just readied or spawned; it runs when the
// current G parks, which is the common case (a send wakes the receiver and
// then waits for the reply).  Thieves leave it alone unless the owner has not
// scheduled for kRunnextGraceNs (its G runs on without parking): stealing it
// sooner would bounce such a pair between CPUs, and waking a sleeping thread
// on the other CPU costs ~25 µs here.  The displaced previous runnext goes to
// the ring, where thieves may take it once the ring's backlog is old.
//
// ## Wakeups
//
// A P whose ring has held runnable Gs for kShareDelayNs (see "Sharing
// work") calls wakep(): if some P is idle and none is spinning, one idle P
// is taken off the idle list, counted as spinning, and its poller woken.
// The idle path publishes itself first (idle list, npidle++), stops
// spinning, and only then re-checks every ring and the global queue: with
// sequentially consistent atomics either the submitter sees npidle > 0 or
// the idler sees the work — no lost wakeup.  A readied G is never worth a
// wake on its own: if it is alone it will run as soon as the current G parks.
//
// A readied G alone in runnext behind a goroutine that computes instead of
// parking waits: with no preemption, only another worker can run it — a
// spinning one takes it after kRunnextGraceNs, and sysmon wakes an idle one
// for it once the P has not scheduled for a whole sysmon period (1 ms, up
// to 10 ms while sysmon has found nothing to do: a wake costs the machine).
// A thief takes a runnext at its second look, a grace period after the
// first; a spin is shorter than that, so the idle P sysmon woke takes it
// when sysmon wakes it again, a period later.
// CPU-bound goroutines should yield now and then (README).
//
// ## Sharing work (where this departs from Go)
//
// Go wakes an idle P for any queued G.  For a server's short requests that
// is a loss when the CPUs are shared (a load generator on the same cores, or
// other processes): every wake takes a CPU from someone else for a few µs
// of work, and the two Ps' cache traffic and sleep/wake cycles cost more
// than the second CPU gives.  Measured with wrk on the same 2 cores (hello,
// 50 connections): 2 Ps under Go's rule served 100k requests/s, 1 P 165k.
// So a P shares only work that has waited:
//
//   * wakep() and thieves act only on a ring that has been non-empty for
//     kShareDelayNs (P::backlog_since; the first look stamps it, so the
//     owner's put reads no clock).  A P that drains its queue every poll
//     round keeps its work; a backlog (a CPU-bound burst, 5,000 timers
//     firing at once) is shared within a millisecond.  The re-check of a P
//     going idle (any_work) follows the same rule: a younger backlog on
//     another P is not a reason to stay awake.
//   * rehome(), called by a goroutine about to park on its P's poller for
//     long (the server's idle connection), moves it to the inbox of the
//     lowest-numbered P awake (one way only, so two Ps never trade waits)
//     when its own P is only nibbling — it woke from sleep under
//     kNibbleNs ago and has run fewer than kNibbleRuns Gs since — and that
//     P has no old backlog.  Waits gather on the poller that is polled
//     anyway; the other P sleeps until there is a backlog again, and then
//     steals, and keeps, half of it.
//   * Only the last P awake spins (or one wakep() woke for a backlog), and
//     a spinner that found work wakes another P only for work that waits:
//     a second P spinning on its own poller never sleeps, so never nibbles,
//     and takes a CPU from whoever shares the machine.
//   * sysmon (sysmon.cpp) is the backstop: the checks above run when a busy
//     P schedules, so a goroutine computing without a schedule point would
//     hide its P's queue.
//
// Same 2 cores, hello at 50 connections, 2 Ps: 100k → 168k requests/s.
// CPU-bound and sleep-heavy loads still use both Ps (see docs/ARCHITECTURE.md).
//
// ## Memory
//
// Gs are 128 bytes, allocated in slabs of kGSlab and recycled through a
// per-P free list (spilling to a global one), never freed before run() ends
// — Go's allgs.  The global run queue and the global free list are arrays of
// pointers so that moving a batch never walks through cold G memory; with a
// million queued goroutines every pointer hop was a cache miss.  Stacks are
// attached at first run, not at spawn, so queued-but-not-started goroutines
// cost no stack.
//
// Rejected: waking a worker per ready (the 25 µs cross-CPU wake dominates a
// 100 ns channel round trip); a single global queue (contended on every
// switch); work-sharing on spawn (locality lost for the common spawn-then-wait).
//
// # Invariants (abort with "goro: ..." and the goroutine dump; the ones
// marked [debug] are checked only in builds without NDEBUG)
//
//   - A G is in at most one place: running on one P, in one run queue (ring,
//     runnext or global), in one P's inbox, parked (waiting), or free.  State
//     moves dead -> runnable -> running -> {runnable, waiting, dead};
//     waiting -> runnable only through ready(), exactly once per park()
//     (checked in every build).  Every write of G::state goes through
//     casgstatus() [debug: the old state is checked].
//   - Only the owner P pushes to its ring (runq_put), pushes to its timer
//     heap, and uses its gfree list and stack cache [debug]; thieves only
//     advance runq_head by CAS, take runnext by CAS after the grace period,
//     and pop another P's late timers under its timers_lock.
//   - P::pending is set by the G switching out and consumed by the next code
//     that runs on the same P; nothing else runs in between [debug].
//   - Code on a goroutine re-reads this_p() after every switch (the G may
//     resume on another worker); this_p() is noipa so it cannot be cached.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

#if GORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

extern "C" void* __cxa_get_globals() noexcept;

namespace goro::detail {
namespace {

// ---- tuning -----------------------------------------------------------------

// Free G objects and stacks kept per P, and shared.
//
// Stack caches.  A goroutine's stack returns to the cache of the P it exits
// on, which need not be the P that spawned it (a thief took it from the
// ring or runnext, or it rehomed).  Caches only per P, 16384 each, let that
// drift pile up: connections arriving one at a time were each served by a
// goroutine spawned on one P and, often enough under load, exiting on the
// other, so the spawning P's cache stayed empty (a fresh mmap per
// connection) while the other's grew by a warm stack per connection — up to
// 3.9 KB of RSS per *idle* connection at 10,000 (issue #11), where
// connections opened together cost 0.3 KB.  So, as Go's stackcache does,
// a P keeps at most kStackCacheLocal for itself and trades batches with a
// shared pool: past the limit the least recently used half goes there, and
// an empty cache takes a batch from it before mmapping.  The stacks in
// existence then track the goroutines alive at once, wherever they exit.
//
// The pool still holds up to kStackPoolMax: a wave of thousands of
// concurrent requests (5,000 connections each sleeping 100 ms exit and
// respawn together) must not pay mmap/munmap — with a cache of 256 that
// wave paid an munmap (and a cross-CPU TLB flush) per exit and went from
// 46k to 27k requests/s; now it pays one stack_lock per kStackBatch exits
// or spawns.  Cached stacks stay warm while the P is busy; after
// kScavengeNs idle, all but the P's kHotStacks most recent, and the whole
// pool, give their pages back (MADV_FREE), so an idle server stays small
// and a busy one pays no madvise per exit.
constexpr std::size_t kGFreeMax = 64;
constexpr std::size_t kGFreeBatch = 32;  // moved to/from the global free list at once
constexpr std::size_t kStackCacheLocal = 64;
constexpr std::size_t kStackBatch = kStackCacheLocal / 2;  // moved to/from the pool at once
constexpr std::size_t kStackPoolMax = 16384;
static_assert(kStackBatch >= kHotStacks, "a spill must leave the P its hot stacks");
// Goroutine ids handed to a P at once.  Ids stay unique, not dense: Go's
// goid does the same (batches of 16); 64 keeps the shared counter out of
// the spawn path.
constexpr std::uint64_t kGidBatch = 64;

thread_local P* tls_p = nullptr;

}  // namespace

GORO_NOIPA P* this_p() noexcept {
  GORO_OPAQUE();
  return tls_p;
}

void set_this_p(P* p) noexcept { tls_p = p; }

// Not const, unlike libstdc++'s declaration: see this_p().
GORO_NOIPA EhGlobals* eh_globals() noexcept {
  GORO_OPAQUE();
  return static_cast<EhGlobals*>(__cxa_get_globals());
}

namespace {

// ---- sanitizer annotations ----------------------------------------------------

inline void san_before_switch([[maybe_unused]] G* from, [[maybe_unused]] G* to,
                              [[maybe_unused]] bool from_exits) noexcept {
#if GORO_ASAN
  const void* bottom = to->is_g0 ? to->asan_bottom : to->stack.lo;
  std::size_t size = to->is_g0 ? to->asan_size : to->stack.size;
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from->asan_fake_stack, bottom, size);
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

inline void san_after_switch([[maybe_unused]] G* self) noexcept {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, nullptr, nullptr);
#endif
}

#if GORO_TSAN
// TSan fibers of exited goroutines, reused: creating one is expensive and
// TSan allows ~8,000 at once, so only running-or-parked Gs hold one.  A
// reused fiber's stale clock can only hide races, never invent them.
SpinLock tsan_fibers_lock;
std::vector<void*> tsan_fibers;
void* tsan_fiber_get() {
  {
    std::lock_guard<SpinLock> l(tsan_fibers_lock);
    if (!tsan_fibers.empty()) {
      void* f = tsan_fibers.back();
      tsan_fibers.pop_back();
      return f;
    }
  }
  return __tsan_create_fiber(0);
}
void tsan_fiber_put(void* f) {
  std::lock_guard<SpinLock> l(tsan_fibers_lock);
  tsan_fibers.push_back(f);
}
#endif

// ---- allgs and the G lifecycle -------------------------------------------------

// A G for g_new: the P's free list, else a batch from the global free list,
// else a new slab (all but one of its Gs go to the global free list).
G* g_alloc(P* p) {
  if (p) GORO_ASSERT_OWNER(p);
  if (p && !p->gfree.empty()) {
    G* g = p->gfree.back();
    p->gfree.pop_back();
    // The next Gs to hand out are likely cold (freed on another worker):
    // start fetching them now, a spawn or two ahead.
    std::size_t n = p->gfree.size();
    if (n >= 2) __builtin_prefetch(p->gfree[n - 2], 1);
    return g;
  }
  {
    std::lock_guard<SpinLock> l(sched.lock);
    if (!sched.gfree.empty()) {
      G* g = sched.gfree.back();
      sched.gfree.pop_back();
      if (p) {
        std::size_t n = std::min(kGFreeBatch, sched.gfree.size());
        p->gfree.insert(p->gfree.end(), sched.gfree.end() - static_cast<std::ptrdiff_t>(n), sched.gfree.end());
        sched.gfree.resize(sched.gfree.size() - n);
      }
      return g;
    }
  }
  auto slab = std::make_unique<G[]>(kGSlab);
  G* base = slab.get();
  {
    std::lock_guard<std::mutex> l(sched.allg_lock);
    sched.allg.push_back(std::move(slab));
  }
  std::lock_guard<SpinLock> l(sched.lock);
  for (std::size_t i = kGSlab - 1; i >= 1; i--) sched.gfree.push_back(&base[i]);
  return &base[0];
}

// An empty cache takes up to kStackBatch stacks from the pool: the most
// recently pooled, the likeliest to be warm.
void stacks_refill(P* p) {
  std::lock_guard<SpinLock> l(sched.stack_lock);
  auto& pool = sched.stack_pool;
  std::size_t n = std::min(kStackBatch, pool.size());
  std::size_t hot = 0;
  for (auto it = pool.end() - static_cast<std::ptrdiff_t>(n); it != pool.end(); ++it) {
    if (!it->cold) hot++;
    p->stacks.push_back(*it);
  }
  pool.resize(pool.size() - n);
  sched.stack_pool_hot.store(sched.stack_pool_hot.load(std::memory_order_relaxed) - hot,
                             std::memory_order_relaxed);
  p->hot_stacks += hot;
}

// A cache past kStackCacheLocal gives its kStackBatch least recently used
// stacks to the pool (unmapping what the pool has no room for).
void stacks_spill(P* p) noexcept {
  auto first = p->stacks.begin(), last = first + static_cast<std::ptrdiff_t>(kStackBatch);
  std::size_t hot = 0;
  for (auto it = first; it != last; ++it)
    if (!it->cold) hot++;
  p->hot_stacks -= hot;
  auto keep = last;
  {
    std::lock_guard<SpinLock> l(sched.stack_lock);
    auto& pool = sched.stack_pool;
    std::size_t room = kStackPoolMax - std::min(kStackPoolMax, pool.size());
    if (room < kStackBatch) keep = first + static_cast<std::ptrdiff_t>(room);
    for (auto it = first; it != keep; ++it) {
      if (!it->cold) sched.stack_pool_hot.fetch_add(1, std::memory_order_relaxed);
      pool.push_back(*it);
    }
  }
  for (auto it = keep; it != last; ++it) stack_free(*it);  // munmap outside the lock
  p->stacks.erase(first, last);
}

// Gives g a stack and a first frame that "returns" into goro_ctx_trampoline.
void g_prepare(P* p, G* g) {
  GORO_ASSERT_OWNER(p);
  if (!g->stack.lo) {
    if (p->stacks.empty()) stacks_refill(p);
    if (!p->stacks.empty()) {
      g->stack = p->stacks.back();
      p->stacks.pop_back();
      if (!g->stack.cold && p->hot_stacks > 0) p->hot_stacks--;
      g->stack.cold = false;
    } else {
      g->stack = stack_new();
    }
  }
#if GORO_ASAN
  // A recycled (or re-mmapped) stack still carries the redzone poison of the
  // frames of its previous goroutine, which never returned.
  __asan_unpoison_memory_region(g->stack.lo, g->stack.size);
#endif
  auto* top = reinterpret_cast<std::uintptr_t*>(
      (reinterpret_cast<std::uintptr_t>(g->stack.hi()) - 16) & ~std::uintptr_t{15});
  std::uintptr_t* sp = top - 8;  // 64-byte frame, see context_x86_64.S
  std::memset(sp, 0, 64);
  sp[0] = 0x1F80 | (std::uintptr_t{0x037F} << 32);  // default MXCSR, x87 CW
  sp[7] = reinterpret_cast<std::uintptr_t>(&goro_ctx_trampoline);
  g->sp = sp;
  g->eh = EhGlobals{};
#if GORO_TSAN
  if (!g->tsan_fiber) g->tsan_fiber = tsan_fiber_get();
#endif
}

// Called on the next context after g exited: g's stack is no longer in use.
void g_free(P* p, G* g) noexcept {
  GORO_ASSERT_OWNER(p);
  casgstatus(g, GState::running, GState::dead);
#if GORO_TSAN
  tsan_fiber_put(g->tsan_fiber);
  g->tsan_fiber = nullptr;
#endif
  g->sp = nullptr;
#if GORO_ASAN
  g->asan_fake_stack = nullptr;
#endif
  if (g->stack.lo) {
    // Cached warm: a burst of exits followed by a burst of spawns (a wave
    // of requests) reuses them without a syscall or a page fault.
    // scavenge_stacks() hands the pages back once the P has idled.
    p->stacks.push_back(g->stack);
    p->hot_stacks++;
    if (p->stacks.size() > kStackCacheLocal) stacks_spill(p);
    g->stack = Stack{};
  }
  p->exited.inc();
  p->gfree.push_back(g);
  if (p->gfree.size() > kGFreeMax) {
    std::lock_guard<SpinLock> l(sched.lock);
    sched.gfree.insert(sched.gfree.end(), p->gfree.end() - static_cast<std::ptrdiff_t>(kGFreeBatch), p->gfree.end());
    p->gfree.resize(p->gfree.size() - kGFreeBatch);
  }
}

// ---- switching -------------------------------------------------------------------------------

void after_switch(G* self) noexcept;

// Runs on from's stack; returns when from is resumed, maybe on another worker.
// `p` is only valid before the switch.
void switch_to(P* p, G* from, G* to, Action act, UnlockFn unlock = nullptr, void* arg = nullptr) noexcept {
  if (to->sp == nullptr) g_prepare(p, to);
  GORO_ASSERT(p->pending.act == Action::none, "P::pending not consumed before the next switch");
  p->pending = P::Pending{from, act, unlock, arg};
  from->eh = *p->eh;
  p->curg = to;
  // g0 is the worker's own stack: always "running", never queued.
  casgstatus(to, to->is_g0 ? GState::running : GState::runnable, GState::running);
  to->last_worker.store(p->id, std::memory_order_relaxed);
  p->switches.inc();
  p->runs_since_wake++;
  san_before_switch(from, to, act == Action::exit);
  goro_ctx_switch(&from->sp, to->sp);
  after_switch(from);
}

// First thing run by whoever gets the CPU after a switch.
void after_switch(G* self) noexcept {
  san_after_switch(self);
  P* p = this_p();
  *p->eh = self->eh;
  P::Pending pd = p->pending;
  p->pending = P::Pending{};
  switch (pd.act) {
    case Action::none:
      break;
    case Action::yield:
      casgstatus(pd.g, GState::running, GState::runnable);  // published by runq_put's release
      runq_put(p, pd.g, false);
      break;
    case Action::park:
      // Published to the readier by the release in unlock (a lock release,
      // an SQE submission...), which the readier's CAS in ready() follows.
      casgstatus(pd.g, GState::running, GState::waiting);
      if (pd.unlock && !pd.unlock(pd.g, pd.arg)) ready_on(p, pd.g, true);
      break;
    case Action::exit:
      g_free(p, pd.g);
      break;
  }
}

// p's next G from what is p's alone: its due timers, the Gs other Ps moved
// into its inbox (rehome; only p takes them), its ring.  For the switches
// that stay on the goroutine's stack (park, yield); g0 looks further.
G* local_next(P* p) noexcept {
  if (timers_due(p)) run_timers(p, now_ns());
  if (p->inbox_n.load(std::memory_order_relaxed)) drain_inbox(p);
  return runq_get(p);
}

// The next G of p without leaving the goroutine's stack, or nullptr when the
// scheduler proper (g0) must look: every kGlobalEvery-th time, or nothing local.
G* local_pick(P* p) noexcept {
  if (p->tick() % kGlobalEvery == 0) return nullptr;
  G* g = local_next(p);
  if (g) maybe_wakep(p);  // the rest may have waited long enough to share
  return g;
}

}  // namespace

// The worker's loop, on g0: run what find_runnable finds until it returns
// nullptr (the runtime stops).
void schedule(P* p) {
  while (G* g = find_runnable(p)) {
    stop_spinning(p);
    switch_to(p, &p->g0, g, Action::none);
  }
  stop_spinning(p);
}

// Hands back the pages of every cached stack but the kHotStacks most
// recently used (the cache is LIFO).  Owner P only.
// Then those of the whole pool: taken out under the lock, madvised outside
// it (a P that finds the pool empty meanwhile mmaps), put back.
void scavenge_stacks(P* p) noexcept {
  GORO_ASSERT_OWNER(p);
  if (p->stacks.size() > kHotStacks) {
    for (auto it = p->stacks.begin(); it != p->stacks.end() - static_cast<std::ptrdiff_t>(kHotStacks); ++it) {
      if (it->cold) continue;
      stack_release_pages(*it);
      p->hot_stacks--;
    }
  }
  if (sched.stack_pool_hot.load(std::memory_order_relaxed) == 0) return;
  std::vector<Stack> taken;
  {
    std::lock_guard<SpinLock> l(sched.stack_lock);
    taken.swap(sched.stack_pool);
    sched.stack_pool_hot.store(0, std::memory_order_relaxed);
  }
  for (auto& s : taken)
    if (!s.cold) stack_release_pages(s);
  std::lock_guard<SpinLock> l(sched.stack_lock);
  auto& pool = sched.stack_pool;
  pool.insert(pool.begin(), taken.begin(), taken.end());  // colder than anything pooled meanwhile
}

void free_all_gs() {
  std::lock_guard<std::mutex> l(sched.allg_lock);
  for (auto& slab : sched.allg) {
    for (std::size_t i = 0; i < kGSlab; i++) {
      G* g = &slab[i];
      if (g->ops && g->fn && g->sp == nullptr) g->ops->destroy(g->fn);  // never started
      if (g->fn_heap) ::operator delete(g->fn, std::align_val_t{64});
      stack_free(g->stack);
#if GORO_TSAN
      if (g->tsan_fiber) __tsan_destroy_fiber(g->tsan_fiber);
#endif
      g->stack = Stack{};
    }
  }
  sched.allg.clear();
  sched.gfree.clear();
}

}  // namespace goro::detail

// ---- G entry and exit ------------------------------------------------------------------------

extern "C" void goro_g_entry() {
  using namespace goro::detail;
  using goro::G;
  G* self = this_p()->curg;
  after_switch(self);
  try {
    self->ops->invoke(self->fn);
  } catch (const std::exception& e) {
    if (!self->is_main) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "goroutine %llu: uncaught exception: %s",
                    static_cast<unsigned long long>(self->id.load()), e.what());
      fatal(buf);
    }
    sched.main_err = std::current_exception();
  } catch (...) {
    if (!self->is_main) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "goroutine %llu: uncaught exception",
                    static_cast<unsigned long long>(self->id.load()));
      fatal(buf);
    }
    sched.main_err = std::current_exception();
  }
  if (self->fn_heap) ::operator delete(self->fn, std::align_val_t{64});
  self->fn = nullptr;
  self->fn_heap = false;
  self->ops = nullptr;

  if (self->is_main) {
    std::lock_guard<SpinLock> l(sched.lock);
    sched.stopping.store(true);
    for (auto& q : sched.ps)
      if (q->poller) q->poller->wake();
  }
  if (self->is_main) {
    std::lock_guard<std::mutex> l(sched.done_mu);
    sched.done = true;
    sched.done_cv.notify_all();
  }
  P* p = this_p();
  G* next = local_pick(p);
  switch_to(p, self, next ? next : &p->g0, Action::exit);
  fatal("a dead goroutine was resumed");
}

// ---- the public API ---------------------------------------------------------------------------

namespace goro {
using namespace detail;

bool in_goroutine() noexcept {
  P* p = this_p();
  return p && p->curg != &p->g0;
}

int current_worker() noexcept {
  P* p = this_p();
  return p ? p->id : -1;
}

Poller* current_poller() noexcept {
  P* p = this_p();
  return p ? p->poller.get() : nullptr;
}

G* current_g() noexcept {
  P* p = this_p();
  return p && p->curg != &p->g0 ? p->curg : nullptr;
}

std::uint64_t goroutine_id(const G* g) noexcept { return g ? g->id.load(std::memory_order_relaxed) : 0; }

void yield() {
  P* p = this_p();
  if (!p || p->curg == &p->g0) return;
  G* self = p->curg;
  G* next = nullptr;
  if (p->tick() % kGlobalEvery != 0 && !shaking(p)) {
    // With the inbox too: a goroutine that yields in a loop without parking
    // once left rehomed Gs there until its every kGlobalEvery-th yield.
    next = local_next(p);
    // Nothing else runnable here or globally: keep running (the fast path).
    if (!next && sched.gq_size.load(std::memory_order_relaxed) == 0) return;
  }
  switch_to(p, self, next ? next : &p->g0, Action::yield);
}

void park(WaitReason r, UnlockFn unlock, void* arg) {
  P* p = this_p();
  if (!p || p->curg == &p->g0) fatal("park outside a goroutine");
  G* self = p->curg;
  self->reason.store(r, std::memory_order_relaxed);
  self->parked_ms.store(coarse_ms(), std::memory_order_relaxed);
  p->parks.inc();
  G* next = local_pick(p);
  switch_to(p, self, next ? next : &p->g0, Action::park, unlock, arg);
  self->reason.store(WaitReason::none, std::memory_order_relaxed);
}

void ready(G* g) {
  P* p = this_p();
  if (p) {
    ready_on(p, g, true);
    maybe_wakep(p);
    return;
  }
  make_runnable(g);
  globq_put(g);
  wakep();
}

namespace detail {

G* g_new(void** storage, std::size_t size, std::size_t align) {
  if (!sched.running.load(std::memory_order_relaxed)) fatal("go() called outside goro::run");
  P* p = this_p();
  G* g = g_alloc(p);
  std::uint64_t id;
  if (p) {
    // Ids come to each P in batches: no shared atomic per spawn.
    if (p->gid_next == p->gid_end) {
      p->gid_next = sched.next_gid.fetch_add(kGidBatch, std::memory_order_relaxed);
      p->gid_end = p->gid_next + kGidBatch;
    }
    id = p->gid_next++;
  } else {
    id = sched.next_gid.fetch_add(1, std::memory_order_relaxed);
  }
  g->id.store(id, std::memory_order_relaxed);
  g->is_main.store(false, std::memory_order_relaxed);
  g->reason.store(WaitReason::none, std::memory_order_relaxed);
  // go() is always inlined, so this is in the function that called it.
  g->go_pc.store(reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)), std::memory_order_relaxed);
  if (size <= kGFnInline && align <= 8) {
    g->fn = g->fnbuf;
    g->fn_heap = false;
  } else {
    if (align > 64) fatal("go(): callable needs more than 64-byte alignment");
    g->fn = ::operator new(size, std::align_val_t{64});
    g->fn_heap = true;
  }
  *storage = g->fn;
  return g;
}

void g_spawn(G* g, const FnOps* ops) {
  g->ops = ops;
  casgstatus(g, GState::dead, GState::runnable);  // published by the queue
  P* p = this_p();
  if (p) {
    p->spawned.inc();
    runq_put(p, g, !shaking(p));
    maybe_wakep(p);
  } else {
    sched.spawned_outside.fetch_add(1);
    globq_put(g);
    wakep();
  }
}

}  // namespace detail
}  // namespace goro
