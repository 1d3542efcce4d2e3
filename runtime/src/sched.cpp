// sched.cpp — the goroutine scheduler.
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
// call.  That keeps M:P at 1:1 and removes Go's handoff/sysmon machinery; the
// price is that a goroutine which blocks its thread anyway (a plain read(2),
// a std::mutex held for long) stalls its whole P — runtime/README.md says so.
// There is no preemption either: a goroutine runs until it parks, yields or
// exits.
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
// ## Finding work (find_runnable, Go's findRunnable)
//
//   1. every 61st schedule, the global queue first (so it cannot starve), and
//      a non-blocking poll (so a busy P still reaps I/O);
//   2. expired timers; runnext; the local ring; the global queue;
//      a non-blocking poll;
//   3. spin: steal half of a random victim's ring, retry the global queue and
//      the poller, for up to kSpinNs.  At most half of the busy Ps spin.
//   4. go idle: join the idle list, re-check every queue (see "wakeups"),
//      block in poller->poll(until the next timer, or until a busy P's timer
//      is kTimerStealNs late; then run it here — see "timers").
//
// runnext holds the G the running G just readied or spawned; it runs when the
// current G parks, which is the common case (a send wakes the receiver and
// then waits for the reply).  Thieves leave it alone unless the owner has not
// scheduled for kRunnextGraceNs (its G runs on without parking): stealing it
// sooner would bounce such a pair between CPUs, and waking a sleeping thread
// on the other CPU costs ~25 µs here (DESIGN.md).  The displaced previous
// runnext goes to the ring, where it can be stolen at once.
//
// ## Wakeups
//
// A P whose ring has held runnable Gs for kShareDelayNs (see "Sharing
// work") calls wakep(): if some P is idle and none is spinning, one idle P
// is taken off the idle list, counted as spinning, and its poller woken.
// The idle path publishes itself first (idle list, npidle++), stops
// spinning, and only then re-checks every ring and the global queue: with
// sequentially consistent atomics either the submitter sees npidle > 0 or
// the idler sees the work — no lost wakeup.  A readied G is never worth a wake on its own:
// if it is alone it will run as soon as the current G parks.
//
// A readied G alone in runnext behind a goroutine that computes instead of
// parking waits: with no preemption, only a worker that is already looking
// for work (spinning) takes it, after kRunnextGraceNs.  CPU-bound goroutines
// should yield now and then (README).
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
//     firing at once) is shared within a millisecond.
//   * rehome(), called by a goroutine about to park on its P's poller for
//     long (the server's idle connection), moves it to a running P's inbox
//     when its own P is only nibbling — it woke from sleep under
//     kNibbleNs ago and has run fewer than kNibbleRuns Gs since.  Waits
//     gather on the poller that is polled anyway; the other P sleeps until
//     there is a backlog again, and then steals, and keeps, half of it.
//   * sysmon (a thread, as in Go; only with 2+ Ps) is the backstop: the
//     checks above run when a busy P schedules, so a goroutine computing
//     without a schedule point would hide its P's queue.  Every kSysmonNs
//     it wakes an idle P for a queue that is old, or for queued/runnext Gs
//     of a P that has not scheduled for a whole period.  It parks while
//     every P is idle.
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
// # Invariants (checked, abort with "goro: ...")
//
//   - A G is in at most one place: running on one P, in one run queue (ring,
//     runnext or global), parked (waiting), or free.  State moves
//     runnable -> running -> {runnable, waiting, dead}; waiting -> runnable
//     only through ready(), exactly once per park().
//   - Only the owner P pushes to its ring (runq_put) and touches its timers,
//     gfree and stacks; thieves only advance runq_head by CAS and take
//     runnext by CAS after the grace period.
//   - P::pending is set by the G switching out and consumed by the next code
//     that runs on the same P; nothing else runs in between.
//   - Code on a goroutine re-reads this_p() after every switch (the G may
//     resume on another worker); this_p() is noipa so it cannot be cached.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

// Every 61st schedule takes from the global queue first: Go's number, a prime
// so it does not beat with common periodic patterns.
constexpr std::uint32_t kGlobalEvery = 61;
// A worker that found nothing keeps looking this long before it sleeps.
// Waking a sleeping thread on the other CPU costs ~25 µs here, so spinning a
// little longer than that pays for itself when work comes back quickly.
constexpr std::int64_t kSpinNs = 50'000;
// Queued work is shared with another P (wakep, stealing) once it has waited
// this long; see "Sharing work".
constexpr std::int64_t kShareDelayNs = 1'000'000;
constexpr std::int64_t kUnstamped = -1;  // P::backlog_since of a ring no one has looked at
// sysmon's period, and how many all-idle periods before it parks.
constexpr std::int64_t kSysmonNs = 1'000'000;
constexpr int kSysmonIdleRounds = 20;
// A P that woke from sleep less than kNibbleNs ago and has run fewer than
// kNibbleRuns goroutines since is "nibbling": rehome() moves waits off it.
constexpr std::uint32_t kNibbleRuns = 32;
constexpr std::int64_t kNibbleNs = 1'000'000;

// Free G objects and stacks kept per P.  16384 stacks cover a wave of
// thousands of concurrent requests (5,000 connections each sleeping 100 ms
// exit and respawn together) without mmap/munmap: with a cache of 256, that
// wave paid an munmap (and a cross-CPU TLB flush) per exit and went from
// 46k to 27k requests/s.  Cached stacks stay warm while the P is busy; after
// kScavengeNs idle, all but the kHotStacks most recent give their pages back
// (MADV_FREE), so an idle server stays small and a busy one pays no madvise
// per exit.
constexpr std::size_t kGFreeMax = 64;
constexpr std::size_t kGFreeBatch = 32;  // moved to/from the global free list at once
// G objects are allocated this many at a time (one allocation, one allgs
// lock) and never freed until run() ends, like Go's allgs: a burst of
// 1e6 goroutines costs no malloc/free once the slabs exist.
constexpr std::size_t kGSlab = 256;
constexpr std::size_t kStackCacheMax = 16384;
constexpr std::int64_t kScavengeNs = 1'000'000'000;
constexpr std::size_t kHotStacks = 16;
// Gs moved from the global queue to a local ring at once (Go: len/gomaxprocs+1,
// capped at half the ring so the rest stays visible to other Ps).
constexpr std::uint32_t kGlobalBatchMax = kRunqSize / 2;
// A P's runnext is left alone this long by thieves (see steal_runnext).
// Long enough that the usual "ready, then park" pair completes (~100 ns),
// short enough that a G readied by a CPU-bound one waits only a little.
constexpr std::int64_t kRunnextGraceNs = 20'000;
// Goroutine ids handed to a P at once.  Ids stay unique, not dense: Go's
// goid does the same (batches of 16); 64 keeps the shared counter out of
// the spawn path.
constexpr std::uint64_t kGidBatch = 64;
// Another worker runs a P's timers once they are this late (the owner is
// running a goroutine that does not park).  Short against the ms-scale
// sleeps of a server, long against a switch, so an owner that merely is
// between two goroutines keeps its own timers.
constexpr std::int64_t kTimerStealNs = 1'000'000;

// ---- the scheduler's shared state ---------------------------------------------

struct Sched {
  std::atomic<bool> running{false};   // run() is active
  std::atomic<bool> stopping{false};  // main returned: workers wind down
  int nprocs = 0;
  std::vector<std::unique_ptr<P>> ps;

  // `lock` guards the global run queue, the idle list and the pollers'
  // lifetime as seen by wakep().  gq_size mirrors the queue length for
  // lock-free emptiness checks.
  SpinLock lock;
  // Arrays of pointers, not lists threaded through the Gs: moving a batch
  // must not chase pointers through G memory (1e6 queued Gs are 128 MB, and
  // each hop is a cache miss — perf showed it).
  std::deque<G*> gq;
  std::atomic<std::uint32_t> gq_size{0};
  P* idle_head = nullptr;
  std::atomic<int> npidle{0};
  std::atomic<int> nmspinning{0};

  // sysmon (see "Sharing work"): its thread, and the word it sleeps on:
  // 0 running, 1 parked because every P is idle, 2 stop.
  std::thread sysmon;
  std::atomic<std::uint32_t> sysmon_word{0};

  std::atomic<std::uint64_t> next_gid{1};
  std::atomic<std::uint64_t> spawned_outside{0};  // go() from non-worker threads

  // allgs: every G ever allocated, in slabs; guarded by allg_lock.  Dead Gs
  // wait on the global free list (guarded by `lock`) or a P's gfree.
  std::mutex allg_lock;
  std::vector<std::unique_ptr<G[]>> allg;
  std::vector<G*> gfree;

  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr main_err;

  std::atomic<bool> shake{false};  // randomize runnext (debug builds, GORO_SHAKE=1)

  // stats()/goroutines() from any thread read `ps` while live; run() flips
  // `live` under this mutex before starting workers and before teardown.
  std::mutex life_mu;
  bool live = false;
};
Sched sched;

thread_local P* tls_p = nullptr;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::uint64_t fastrand(std::uint64_t& s) noexcept {  // xorshift64*
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

void write_all(const char* s) noexcept {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

void fatal(const char* msg) noexcept {
  write_all("goro: ");
  write_all(msg);
  write_all("\n");
  std::abort();
}

// The current worker's P.  noipa: the compiler must not assume two calls
// return the same value, because a goroutine may resume on another thread
// between them (it would otherwise keep the old thread's TLS address).
GORO_NOIPA P* this_p() noexcept {
  GORO_OPAQUE();
  return tls_p;
}

// Not const, unlike libstdc++'s declaration: see this_p().
GORO_NOIPA static EhGlobals* eh_globals() noexcept {
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

// ---- allgs --------------------------------------------------------------------

// A G for g_new: the P's free list, else a batch from the global free list,
// else a new slab (all but one of its Gs go to the global free list).
G* g_alloc(P* p) {
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

// ---- run queues -----------------------------------------------------------------

// Global queue.  Caller holds sched.lock.
void globq_put_locked(G* g) {
  sched.gq.push_back(g);
  sched.gq_size.fetch_add(1);
}

void globq_put(G* g) noexcept {
  std::lock_guard<SpinLock> l(sched.lock);
  globq_put_locked(g);
}

G* runq_get(P* p) noexcept;
bool runq_put_slow(P* p, G* g, std::uint32_t h, std::uint32_t t) noexcept;

// Owner only.  next: put g in runnext, kicking the old runnext to the ring.
void runq_put(P* p, G* g, bool next) noexcept {
  if (next) {
    G* old = p->runnext.exchange(g, std::memory_order_acq_rel);  // a thief may take it
    if (!old) return;
    g = old;
  }
  for (;;) {
    std::uint32_t h = p->runq_head.load(std::memory_order_acquire);
    std::uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
    if (t - h < kRunqSize) {
      if (t == h) p->backlog_since.store(kUnstamped, std::memory_order_relaxed);
      p->runq[t % kRunqSize].store(g, std::memory_order_relaxed);
      p->runq_tail.store(t + 1, std::memory_order_release);
      return;
    }
    if (runq_put_slow(p, g, h, t)) return;
  }
}

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

// Owner only.
G* runq_get(P* p) noexcept {
  if (p->runnext.load(std::memory_order_relaxed)) {
    if (G* g = p->runnext.exchange(nullptr, std::memory_order_acq_rel)) return g;
  }
  for (;;) {
    std::uint32_t h = p->runq_head.load(std::memory_order_acquire);
    std::uint32_t t = p->runq_tail.load(std::memory_order_relaxed);
    if (t == h) return nullptr;
    G* g = p->runq[h % kRunqSize].load(std::memory_order_relaxed);
    if (p->runq_head.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel)) {
      // Start pulling the next G into cache while this one runs: a long
      // queue's Gs went cold while they waited.
      // Two ahead: a G runs for as little as ~50 ns, a miss costs more.
      if (t - h > 2) __builtin_prefetch(p->runq[(h + 2) % kRunqSize].load(std::memory_order_relaxed), 1);
      return g;
    }
  }
}

std::uint32_t runq_len(const P* p) noexcept {
  std::uint32_t h = p->runq_head.load(std::memory_order_acquire);
  std::uint32_t t = p->runq_tail.load(std::memory_order_acquire);
  return t - h < kRunqSize + 1 ? t - h : 0;  // a torn read may look negative
}

// Steals half of victim's ring into p's ring; returns one G to run.  Called
// by p's owner.  (Go's runqgrab: copy, then claim the copied range by CAS.)
G* runq_steal(P* p, P* victim) noexcept {
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

// ---- wakeups ---------------------------------------------------------------------

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

// Whether p's queued Gs have waited kShareDelayNs.  The first look at a
// newly non-empty ring stamps it: no clock read on the owner's put path
// (a yield round trip would pay two), at the price of counting from the
// first look, which comes at the owner's next schedule or a thief's spin.
inline bool backlog_old(P* p, std::int64_t now) noexcept {
  std::int64_t since = p->backlog_since.load(std::memory_order_relaxed);
  if (since == kUnstamped) {
    p->backlog_since.compare_exchange_strong(since, now, std::memory_order_relaxed);
    return false;
  }
  return now - since >= kShareDelayNs;
}

// Work appeared on p beyond what it runs next: share it if it is old.
inline void maybe_wakep(P* p) noexcept {
  if (runq_len(p) == 0) return;
  if (sched.npidle.load(std::memory_order_relaxed) == 0 || sched.nmspinning.load(std::memory_order_relaxed) != 0) return;
  if (backlog_old(p, now_ns())) wakep();
}

void stop_spinning(P* p) noexcept {
  if (!p->spinning) return;
  p->spinning = false;
  // The last spinner found work: there may be more, let another look.
  if (sched.nmspinning.fetch_sub(1) == 1) wakep();
}

bool shaking(P* p) noexcept { return sched.shake.load(std::memory_order_relaxed) && (fastrand(p->rng) & 1); }

// waiting -> runnable, exactly once per park (a second ready aborts).
void make_runnable(G* g) noexcept {
  GState expected = GState::waiting;
  if (!g->state.compare_exchange_strong(expected, GState::runnable)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "ready of goroutine %llu which is %s, not waiting",
                  static_cast<unsigned long long>(g->id.load()), to_string(expected));
    fatal(buf);
  }
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

void ready_on(P* p, G* g, bool next) noexcept {
  make_runnable(g);
  if (next && shaking(p)) next = false;
  runq_put(p, g, next);
}

// ---- timers ------------------------------------------------------------------------------
//
// Each P's heap holds the goroutines that went to sleep on it.  The owner
// runs its timers whenever it schedules.  An owner busy with a goroutine that
// does not park cannot, so an idle or spinning worker runs another P's
// timers once they are kTimerStealNs overdue (steal_timers), readying the
// sleepers onto its own P, and sleeps in its poller no longer than that.

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

void wake_sleeper_for(P* p, std::int64_t when) noexcept;

void timer_push(P* p, std::int64_t when, G* g) {
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
  if (late && late->poller) late->poller->wake();
}

// Readies every G on `from`'s heap whose time has come, in (when, seq) order,
// onto the tail of `to`'s ring so they run in that order.  `to` is the
// calling worker's P.  Returns how many.
int run_timers_of(P* to, P* from, std::int64_t now) noexcept {
  if (from->next_timer.load(std::memory_order_acquire) > now) return 0;
  int n = 0;
  {
    std::lock_guard<SpinLock> l(from->timers_lock);
    while (!from->timers.empty() && from->timers.front().when <= now) {
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

inline bool timers_due(P* p) noexcept {
  std::int64_t next = p->next_timer.load(std::memory_order_relaxed);
  return next != INT64_MAX && next <= now_ns();
}

void run_timers(P* p, std::int64_t now) noexcept { run_timers_of(p, p, now); }

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

// ---- G lifecycle ------------------------------------------------------------------------

// Gives g a stack and a first frame that "returns" into goro_ctx_trampoline.
void g_prepare(P* p, G* g) {
  if (!g->stack.lo) {
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
  g->state.store(GState::dead, std::memory_order_relaxed);
#if GORO_TSAN
  tsan_fiber_put(g->tsan_fiber);
  g->tsan_fiber = nullptr;
#endif
  g->sp = nullptr;
#if GORO_ASAN
  g->asan_fake_stack = nullptr;
#endif
  if (g->stack.lo) {
    if (p->stacks.size() < kStackCacheMax) {
      // Cached warm: a burst of exits followed by a burst of spawns (a
      // wave of requests) reuses them without a syscall or a page fault.
      // scavenge_stacks() hands the pages back once the P has idled.
      p->stacks.push_back(g->stack);
      p->hot_stacks++;
    } else {
      stack_free(g->stack);
    }
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
  p->pending = P::Pending{from, act, unlock, arg};
  from->eh = *p->eh;
  p->curg = to;
  to->state.store(GState::running, std::memory_order_relaxed);
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
      pd.g->state.store(GState::runnable, std::memory_order_relaxed);  // published by runq_put's release
      runq_put(p, pd.g, false);
      break;
    case Action::park:
      // Published to the readier by the release in unlock (a lock release,
      // an SQE submission...), which the readier's CAS in ready() follows.
      pd.g->state.store(GState::waiting, std::memory_order_relaxed);
      if (pd.unlock && !pd.unlock(pd.g, pd.arg)) ready_on(p, pd.g, true);
      break;
    case Action::exit:
      g_free(p, pd.g);
      break;
  }
}

// The next G of p without leaving the goroutine's stack, or nullptr when the
// scheduler proper (g0) must look: every kGlobalEvery-th time, or nothing local.
G* local_pick(P* p) noexcept {
  if (p->tick() % kGlobalEvery == 0) return nullptr;
  if (timers_due(p)) run_timers(p, now_ns());
  if (p->inbox_n.load(std::memory_order_relaxed)) drain_inbox(p);
  G* g = runq_get(p);
  if (g) maybe_wakep(p);  // the rest may have waited long enough to share
  return g;
}

// ---- find_runnable (on g0) ---------------------------------------------------------------

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

bool any_work() noexcept {
  if (sched.gq_size.load() > 0) return true;
  for (auto& q : sched.ps)
    if (runq_len(q.get()) > 0 || q->inbox_n.load() > 0) return true;
  return false;
}

// Leaves the idle list (unless wakep() took p off it, which made p spinning).
void leave_idle(P* p) noexcept {
  std::lock_guard<SpinLock> l(sched.lock);
  // A P is getting busy: a sysmon parked because all were idle watches again.
  std::uint32_t parked = 1;
  if (sched.sysmon_word.load() == 1 && sched.sysmon_word.compare_exchange_strong(parked, 0))
    futex_wake(&sched.sysmon_word, 1);
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

// Hands back the pages of every cached stack but the kHotStacks most
// recently used (the cache is LIFO).  Owner P only.
void scavenge_stacks(P* p) noexcept {
  if (p->stacks.size() <= kHotStacks) return;
  for (auto it = p->stacks.begin(); it != p->stacks.end() - static_cast<std::ptrdiff_t>(kHotStacks); ++it) {
    if (it->cold) continue;
    stack_release_pages(*it);
    p->hot_stacks--;
  }
}

G* find_runnable(P* p) {
  const std::int64_t idle_since = now_ns();
  for (;;) {
    if (sched.stopping.load(std::memory_order_relaxed)) return nullptr;
    if (timers_due(p)) run_timers(p, now_ns());
    if (p->inbox_n.load(std::memory_order_relaxed)) drain_inbox(p);
    if (p->tick() % kGlobalEvery == 0) {
      if (G* g = globq_get(p, 1)) return g;
      p->poller->poll(std::chrono::nanoseconds(0));
    }
    if (G* g = runq_get(p)) return g;
    if (G* g = globq_get(p, kRunqSize)) return g;
    if (p->poller->poll(std::chrono::nanoseconds(0)) > 0) {
      if (G* g = runq_get(p)) return g;
    }

    // Spin, if not too many already do.
    if (p->spinning || 2 * sched.nmspinning.load() < sched.nprocs - sched.npidle.load()) {
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
    if (any_work()) {
      leave_idle(p);
      continue;
    }
    // Publish how long we will sleep, then look at the timers again: a
    // timer pushed meanwhile either sees sleep_until or is seen here.
    std::int64_t delay = next_timer_delay(p);
    p->sleep_until.store(delay < 0 ? INT64_MAX : now_ns() + delay);
    delay = next_timer_delay(p);
    if (p->hot_stacks > kHotStacks) {
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

// ---- sysmon ----------------------------------------------------------------------------------

// The backstop of "Sharing work": wakeups otherwise happen only when a busy
// P schedules (puts, picks), so work queued behind a goroutine that
// computes without parking would never be shared.  Every kSysmonNs, sysmon
// wakes an idle P for a P whose queue is old, or whose queued or runnext G
// waits while the P has not scheduled for a whole interval.  After
// kSysmonIdleRounds with every P idle it parks until one leaves idle.
void sysmon_main() noexcept {
  pthread_setname_np(pthread_self(), "goro-sysmon");
  std::vector<std::uint32_t> last_tick(sched.ps.size(), 0);
  int idle_rounds = 0;
  while (!sched.stopping.load()) {
    futex_wait(&sched.sysmon_word, 0, std::chrono::nanoseconds(kSysmonNs));
    if (sched.stopping.load()) break;
    if (sched.npidle.load() == sched.nprocs) {
      if (++idle_rounds < kSysmonIdleRounds) continue;
      idle_rounds = 0;
      std::uint32_t running = 0;
      if (!sched.sysmon_word.compare_exchange_strong(running, 1)) continue;  // stopping
      if (sched.npidle.load() == sched.nprocs) futex_wait(&sched.sysmon_word, 1);
      running = 1;
      sched.sysmon_word.compare_exchange_strong(running, 0);
      continue;
    }
    idle_rounds = 0;
    bool can_wake = sched.npidle.load() > 0 && sched.nmspinning.load() == 0;
    std::int64_t now = now_ns();
    for (std::size_t i = 0; i < sched.ps.size(); i++) {
      P* p = sched.ps[i].get();
      std::uint32_t tick = p->schedtick.load(std::memory_order_relaxed);
      bool stuck = tick == last_tick[i];
      last_tick[i] = tick;
      if (!can_wake) continue;
      bool queued = runq_len(p) > 0;
      bool waiting = queued || p->runnext.load(std::memory_order_relaxed) != nullptr;
      if (waiting && (stuck || (queued && backlog_old(p, now)))) {
        wakep();
        can_wake = false;
      }
    }
  }
}

// ---- workers ----------------------------------------------------------------------------------

void overflow_handler(int sig, siginfo_t* info, void* uctx);
struct sigaction old_segv;

// Installed by every run(), unless already in place: someone (a test
// harness's crash handler) may have swapped it out since.
void install_overflow_handler() {
  struct sigaction cur {};
  sigaction(SIGSEGV, nullptr, &cur);
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == overflow_handler) return;
  struct sigaction sa {};
  sa.sa_sigaction = overflow_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
}

void overflow_handler(int sig, siginfo_t* info, void* uctx) {
  P* p = tls_p;
  G* g = p ? p->curg : nullptr;
  auto* addr = static_cast<char*>(info->si_addr);
  if (g && !g->is_g0 && g->stack.lo && addr >= g->stack.lo - 2 * 4096 && addr < g->stack.lo) {
    char buf[80];
    char digits[24];
    int n = 0;
    std::uint64_t id = g->id.load(std::memory_order_relaxed);
    do {
      digits[n++] = static_cast<char>('0' + id % 10);
      id /= 10;
    } while (id);
    std::size_t k = 0;
    for (const char* s = "goro: goroutine "; *s;) buf[k++] = *s++;
    while (n) buf[k++] = digits[--n];
    for (const char* s = " stack overflow\n"; *s;) buf[k++] = *s++;
    buf[k] = 0;
    write_all(buf);
    std::abort();
  }
  // Not ours: hand it to whoever was there before (ASan, or the default).
  if (old_segv.sa_flags & SA_SIGINFO) {
    if (old_segv.sa_sigaction) {
      old_segv.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
    old_segv.sa_handler(sig);
    return;
  }
  signal(SIGSEGV, SIG_DFL);  // re-executing the access faults again, fatally
}

void worker_main(P* p, const Options* opts) {
  tls_p = p;
  char name[16];
  std::snprintf(name, sizeof name, "goro-w%d", p->id);
  pthread_setname_np(pthread_self(), name);

  // Alternate signal stack so the overflow report runs off the broken stack.
  p->altstack.resize(64 * 1024);
  stack_t ss{};
  ss.ss_sp = p->altstack.data();
  ss.ss_size = p->altstack.size();
  sigaltstack(&ss, nullptr);

  p->eh = eh_globals();  // per thread, so fixed for this worker
  p->g0.is_g0 = true;
  p->g0.state.store(GState::running);
  p->curg = &p->g0;
#if GORO_ASAN
  pthread_attr_t attr;
  pthread_getattr_np(pthread_self(), &attr);
  void* addr = nullptr;
  std::size_t size = 0;
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  p->g0.asan_bottom = addr;
  p->g0.asan_size = size;
#endif
#if GORO_TSAN
  p->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
  {
    std::unique_ptr<Poller> poller = opts->poller ? opts->poller(p->id) : make_futex_poller();
    if (!poller) fatal("Options::poller returned no poller");
    std::lock_guard<SpinLock> l(sched.lock);
    p->poller = std::move(poller);
  }

  while (G* g = find_runnable(p)) {
    stop_spinning(p);
    switch_to(p, &p->g0, g, Action::none);
  }
  stop_spinning(p);

  std::unique_ptr<Poller> poller;
  {
    std::lock_guard<SpinLock> l(sched.lock);
    poller = std::move(p->poller);
  }
  poller.reset();
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  tls_p = nullptr;
}

int default_procs() {
  if (const char* env = std::getenv("GOMAXPROCS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
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

}  // namespace

// ---- G entry and exit ------------------------------------------------------------------------

void blocking_wait_idle();  // blocking.cpp
void timer_add(std::int64_t when, G* g);  // for time.cpp: on the worker, in park's unlock

}  // namespace goro::detail

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

namespace goro {
using namespace detail;

const char* to_string(WaitReason r) noexcept {
  switch (r) {
    case WaitReason::none: return "";
    case WaitReason::chan_receive: return "chan receive";
    case WaitReason::chan_send: return "chan send";
    case WaitReason::select: return "select";
    case WaitReason::select_no_cases: return "select (no cases)";
    case WaitReason::sleep: return "sleep";
    case WaitReason::io_wait: return "IO wait";
    case WaitReason::mutex: return "mutex";
    case WaitReason::waitgroup: return "waitgroup";
    case WaitReason::blocking_call: return "blocking call";
    case WaitReason::migrating: return "migrating";
  }
  return "?";
}

const char* to_string(GState s) noexcept {
  switch (s) {
    case GState::dead: return "dead";
    case GState::runnable: return "runnable";
    case GState::running: return "running";
    case GState::waiting: return "waiting";
  }
  return "?";
}

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
    if (timers_due(p)) run_timers(p, now_ns());
    next = runq_get(p);
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
  p->parks.inc();
  G* next = local_pick(p);
  switch_to(p, self, next ? next : &p->g0, Action::park, unlock, arg);
  self->reason.store(WaitReason::none, std::memory_order_relaxed);
}

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
  if (now_ns() - p->woke_at >= kNibbleNs) return false;
  P* target = nullptr;
  {
    std::lock_guard<SpinLock> l(sched.lock);
    for (auto& q : sched.ps) {
      if (q.get() != p && !q->idle && !q->wake_spinning) {
        target = q.get();
        break;
      }
    }
  }
  if (!target) return false;
  park(WaitReason::migrating, rehome_to, target);
  return this_p() != p;
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
  g->state.store(GState::runnable, std::memory_order_relaxed);  // published by the queue
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

void run(std::function<void()> main_fn, Options opts) {
  if (sched.running.exchange(true)) fatal("run() called while a runtime is already running");
  sched.stopping.store(false);
  sched.done = false;
  sched.main_err = nullptr;
  sched.nprocs = opts.procs > 0 ? opts.procs : default_procs();
  sched.next_gid.store(1);
  sched.spawned_outside.store(0);
  sched.npidle.store(0);
  sched.nmspinning.store(0);
  sched.idle_head = nullptr;
  const char* shake = std::getenv("GORO_SHAKE");
#ifndef NDEBUG
  sched.shake.store(!shake || std::strcmp(shake, "0") != 0);
#else
  sched.shake.store(shake && std::strcmp(shake, "0") != 0);
#endif
  install_overflow_handler();

  sched.ps.clear();
  for (int i = 0; i < sched.nprocs; i++) {
    auto p = std::make_unique<P>();
    p->id = i;
    p->runnext_seen.assign(static_cast<std::size_t>(sched.nprocs), {0, 0});
    p->rng = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(i + 1) ^ static_cast<std::uint64_t>(now_ns());
    sched.ps.push_back(std::move(p));
  }

  go(std::move(main_fn));  // goroutine 1, on the global queue
  sched.allg[0][0].is_main.store(true);

  {
    std::lock_guard<std::mutex> l(sched.life_mu);
    sched.live = true;
  }
  for (auto& p : sched.ps) p->thread = std::thread(worker_main, p.get(), &opts);
  sched.sysmon_word.store(0);
  if (sched.nprocs > 1) sched.sysmon = std::thread(sysmon_main);
  {
    std::unique_lock<std::mutex> l(sched.done_mu);
    sched.done_cv.wait(l, [] { return sched.done; });
  }
  if (sched.sysmon.joinable()) {
    sched.sysmon_word.store(2);
    futex_wake(&sched.sysmon_word, 1);
    sched.sysmon.join();
  }
  for (auto& p : sched.ps) p->thread.join();
  blocking_wait_idle();

  {
    std::lock_guard<std::mutex> l(sched.life_mu);
    sched.live = false;
  }
  free_all_gs();
  sched.gq.clear();
  sched.gq_size.store(0);
  for (auto& p : sched.ps) {
    for (auto& s : p->stacks) stack_free(s);
  }
  sched.ps.clear();
  std::exception_ptr err = sched.main_err;
  sched.main_err = nullptr;
  sched.running.store(false);
  if (err) std::rethrow_exception(err);
}

// ---- stats --------------------------------------------------------------------------------------

void detail::timer_add(std::int64_t when, G* g) { timer_push(this_p(), when, g); }

std::uint64_t blocking_threads() noexcept;   // blocking.cpp
std::uint64_t blocking_inflight() noexcept;  // blocking.cpp

Stats stats() {
  Stats s;
  s.stack_size = stack_size();
  s.blocking_threads = blocking_threads();
  s.blocking_inflight = blocking_inflight();
  std::lock_guard<std::mutex> life(sched.life_mu);
  if (!sched.live) return s;
  s.running = true;
  s.procs = sched.nprocs;
  s.global_runq = sched.gq_size.load();
  s.spinning = sched.nmspinning.load();
  s.idle = sched.npidle.load();
  std::uint64_t exited = 0;
  s.goroutines_spawned = sched.spawned_outside.load();
  for (auto& p : sched.ps) {
    ProcStats ps;
    ps.id = p->id;
    ps.runq = runq_len(p.get());
    ps.runnext = p->runnext.load(std::memory_order_relaxed) != nullptr;
    ps.timers = p->ntimers.load(std::memory_order_relaxed);
    ps.switches = p->switches.get();
    ps.steals = p->steals.get();
    ps.parks = p->parks.get();
    ps.spawned = p->spawned.get();
    s.switches += ps.switches;
    s.steals += ps.steals;
    s.parks += ps.parks;
    s.goroutines_spawned += ps.spawned;
    exited += p->exited.get();
    s.p.push_back(ps);
  }
  {
    std::lock_guard<SpinLock> l(sched.lock);
    for (P* q = sched.idle_head; q; q = q->idle_next) s.p[static_cast<std::size_t>(q->id)].idle = true;
  }
  s.goroutines_alive = s.goroutines_spawned >= exited ? s.goroutines_spawned - exited : 0;
  return s;
}

std::vector<GoroutineInfo> goroutines() {
  std::vector<GoroutineInfo> out;
  {
    std::lock_guard<std::mutex> life(sched.life_mu);
    if (!sched.live) return out;
    std::lock_guard<std::mutex> l(sched.allg_lock);
    for (auto& slab : sched.allg)
    for (std::size_t i = 0; i < kGSlab; i++) {
      G* g = &slab[i];
      GState st = g->state.load(std::memory_order_relaxed);
      if (st == GState::dead) continue;
      GoroutineInfo gi;
      gi.id = g->id.load(std::memory_order_relaxed);
      gi.state = st;
      gi.reason = st == GState::waiting ? g->reason.load(std::memory_order_relaxed) : WaitReason::none;
      gi.worker = g->last_worker.load(std::memory_order_relaxed);
      gi.main = g->is_main.load(std::memory_order_relaxed);
      out.push_back(gi);
    }
  }
  std::sort(out.begin(), out.end(), [](const GoroutineInfo& a, const GoroutineInfo& b) { return a.id < b.id; });
  return out;
}

std::string dump_goroutines() {
  std::string s;
  for (const GoroutineInfo& g : goroutines()) {
    char line[128];
    const char* what = g.state == GState::waiting ? to_string(g.reason) : to_string(g.state);
    std::snprintf(line, sizeof line, "goroutine %llu [%s]%s: worker %d\n",
                  static_cast<unsigned long long>(g.id), what, g.main ? " (main)" : "", g.worker);
    s += line;
  }
  return s;
}

}  // namespace goro
