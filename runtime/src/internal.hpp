// internal.hpp — the one interface between the runtime's source files: the
// data (G, P, the scheduler's shared state), the tuning constants more than
// one file uses, the hot run-queue and state-transition helpers (inline, so
// their callers in every file stay as fast as when they shared one file),
// and every function one file calls in another.  No .cpp file declares
// another file's functions itself.  The scheduler's design essay and
// invariants open proc.cpp; runtime/README.md maps the files.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <time.h>

#include "goro/detail/wait.hpp"
#include "goro/runtime.hpp"
#include "goro/stats.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(GORO_SANITIZE_ADDRESS)
#define GORO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) || defined(GORO_SANITIZE_THREAD)
#define GORO_TSAN 1
#endif

// For accessors of per-thread state (see README: goroutines migrate).  The
// call must stay a call and its result must never be assumed equal to an
// earlier one: GCC's noipa forbids inlining and inferred purity; clang has no
// noipa, so noinline plus an opaque asm (a side effect) does the same.
#if defined(__clang__)
#define GORO_NOIPA __attribute__((noinline))
#else
#define GORO_NOIPA __attribute__((noipa))
#endif
#define GORO_OPAQUE() asm volatile("" ::: "memory")

extern "C" {
// context_x86_64.S: saves callee-saved registers + MXCSR/x87 CW on the current
// stack, stores sp into *save_sp, loads to_sp and restores the same from it.
void goro_ctx_switch(void** save_sp, void* to_sp);
// First "return address" of a new G: calls goro_g_entry.
void goro_ctx_trampoline();
void goro_g_entry();
}

namespace goro::detail {

// A stack: the guard page is [lo - page, lo), the usable part [lo, hi()).
// 16 bytes, because every G carries one.
struct Stack {
  char* lo = nullptr;
  std::uint32_t size = 0;
  bool cold = false;  // physical pages handed back (MADV_FREE) while cached
  char* hi() const noexcept { return lo + size; }
};
Stack stack_new();
void stack_free(Stack& s) noexcept;
void stack_release_pages(Stack& s) noexcept;
std::size_t stack_size() noexcept;
std::size_t stacks_mapped() noexcept;  // stats().stacks

// libstdc++'s per-thread exception state (__cxa_eh_globals): caught-exception
// stack and uncaught count.  It travels with the goroutine.
struct EhGlobals {
  void* caught = nullptr;
  unsigned int uncaught = 0;
  unsigned int pad = 0;
};

}  // namespace goro::detail

namespace goro {
// The goroutine (declared opaque in goro/runtime.hpp).
struct alignas(64) G {
  using Stack = detail::Stack;
  using EhGlobals = detail::EhGlobals;
  using FnOps = detail::FnOps;
  // Hot fields first; 128 bytes in all (two cache lines) without sanitizers:
  // a burst of 1e6 queued goroutines is 1e6 Gs, so size is cache misses.
  void* sp = nullptr;  // saved stack pointer; null: not started yet
  Stack stack;
  const FnOps* ops = nullptr;
  void* fn = nullptr;  // the callable: &fnbuf or heap
  std::atomic<std::uint64_t> id{0};
  EhGlobals eh;
  std::atomic<int> last_worker{-1};
  std::atomic<GState> state{GState::dead};  // written only by casgstatus()
  std::atomic<WaitReason> reason{WaitReason::none};
  std::atomic<bool> is_main{false};
  bool fn_heap = false;
  bool is_g0 = false;
  // When it last parked: CLOCK_MONOTONIC_COARSE in ms, modulo 2^32 (a dump
  // subtracts modulo too, so waits under 49 days read right).  traceback.cpp.
  std::atomic<std::uint32_t> parked_ms{0};
#if GORO_ASAN
  void* asan_fake_stack = nullptr;
  const void* asan_bottom = nullptr;  // g0 only: thread stack bounds
  std::size_t asan_size = 0;
#endif
#if GORO_TSAN
  void* tsan_fiber = nullptr;
#endif
  alignas(8) unsigned char fnbuf[detail::kGFnInline];  // callables with alignment <= 8
  // Where go() was called: a return address in the spawning function, for
  // the dump's "created by".  Written by g_new, read by a dump.
  std::atomic<std::uintptr_t> go_pc{0};
};
#if !GORO_ASAN && !GORO_TSAN
static_assert(sizeof(G) == 128, "G should stay two cache lines");
#endif
}  // namespace goro

// ---- invariant checks ----------------------------------------------------------
//
// GORO_DEBUG is on in builds without NDEBUG.  GORO_ASSERT costs nothing in
// Release (the condition is not evaluated); in Debug a false condition aborts
// through fatal(): "goro: <msg>" and the goroutine dump.
#ifndef NDEBUG
#define GORO_DEBUG 1
#else
#define GORO_DEBUG 0
#endif
#if GORO_DEBUG
#define GORO_ASSERT(cond, msg)                        \
  do {                                                \
    if (!(cond)) ::goro::detail::fatal("assertion failed: " msg " (" #cond ")"); \
  } while (0)
#else
#define GORO_ASSERT(cond, msg) \
  do {                         \
  } while (0)
#endif
// Operations only the P's own worker may do: its ring's tail, its timer
// heap's pushes, its free-G list and stack cache.
#define GORO_ASSERT_OWNER(p) GORO_ASSERT((p) == ::goro::detail::this_p(), "not on the owner P")

namespace goro::detail {

enum class Action : std::uint8_t { none, yield, park, exit };

struct Timer {
  std::int64_t when;  // steady_clock ns
  std::uint64_t seq;  // FIFO among equal `when`
  G* g;
};

// Relaxed counter written by one thread, read by any (stats).
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void inc(std::uint64_t n = 1) noexcept { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

// ---- tuning shared by more than one file (each file keeps its own) ------------

// Tuning: a ring of 256, as Go.  Large enough that a burst of spawns rarely
// spills to the global queue, small enough that stealing half is cheap.
inline constexpr std::uint32_t kRunqSize = 256;
// Every 61st schedule takes from the global queue first: Go's number, a prime
// so it does not beat with common periodic patterns.
inline constexpr std::uint32_t kGlobalEvery = 61;
// Queued work is shared with another P (wakep, stealing) once it has waited
// this long; see "Sharing work" in proc.cpp.
inline constexpr std::int64_t kShareDelayNs = 1'000'000;
inline constexpr std::int64_t kUnstamped = -1;  // P::backlog_since of a ring no one has looked at
// Another worker runs a P's timers once they are this late (the owner is
// running a goroutine that does not park); see time.cpp.
inline constexpr std::int64_t kTimerStealNs = 1'000'000;
// G objects are allocated this many at a time (one allocation, one allgs
// lock) and never freed until run() ends, like Go's allgs: a burst of
// 1e6 goroutines costs no malloc/free once the slabs exist.
inline constexpr std::size_t kGSlab = 256;
// A P idle this long gives the pages of its cached stacks back, all but the
// kHotStacks most recently used (see scavenge_stacks in proc.cpp).
inline constexpr std::int64_t kScavengeNs = 1'000'000'000;
inline constexpr std::size_t kHotStacks = 16;

struct alignas(64) P {
  int id = 0;
  // ---- run queue: head written by owner and thieves (CAS), tail by owner only
  alignas(64) std::atomic<std::uint32_t> runq_head{0};
  alignas(64) std::atomic<std::uint32_t> runq_tail{0};
  // When the ring was first seen non-empty since it last was empty (steady
  // ns, or kUnstamped; set to kUnstamped by the owner's put into an empty
  // ring, stamped by the first look): roughly how long its oldest G has
  // waited.  Work is shared with other Ps once it is kShareDelayNs old.
  std::atomic<std::int64_t> backlog_since{0};
  std::atomic<G*> runq[kRunqSize];
  // Owner puts and takes (atomic exchange); a thief takes it only when the
  // owner's G has run for kRunnextGraceNs without a schedule (see
  // findrunnable.cpp).  Own cache line: written on every ready/spawn, polled
  // by spinning thieves.
  alignas(64) std::atomic<G*> runnext{nullptr};

  // ---- owner only
  alignas(64) G g0;     // the worker thread's own stack: runs find_runnable
  EhGlobals* eh = nullptr;  // this worker thread's __cxa_get_globals(), cached
  G* curg = nullptr;    // running G (&g0 in the scheduler)
  struct Pending {
    G* g = nullptr;
    Action act = Action::none;
    UnlockFn unlock = nullptr;
    void* arg = nullptr;
  } pending;            // what the G that just switched out asked for
  // Bumped by the owner at every schedule; read by thieves to tell a P whose
  // G has been running for a while (see steal_runnext), and by sysmon.
  alignas(64) std::atomic<std::uint32_t> schedtick{0};
  std::uint32_t tick() noexcept {
    std::uint32_t t = schedtick.load(std::memory_order_relaxed) + 1;
    schedtick.store(t, std::memory_order_relaxed);
    return t;
  }
  // Thief side, owner only: when this P first saw each victim's runnext
  // occupied, and at which victim schedtick.
  std::vector<std::pair<std::uint32_t, std::int64_t>> runnext_seen;
  bool spinning = false;
  // When this P last woke from sleep, and how many goroutines it has run
  // since (see rehome()).
  std::int64_t woke_at = 0;
  std::uint32_t runs_since_wake = 0;
  // Gs other Ps moved here (rehome); guarded by sched.lock.  inbox_n
  // mirrors its size for a lock-free look.
  std::vector<G*> inbox;
  std::atomic<std::uint32_t> inbox_n{0};
  // ---- timers (time.cpp): the heap, timer_seq and ntimers are guarded by
  // timers_lock.  Only the owner pushes (a sleeper parks on its own P);
  // the owner pops due timers whenever it schedules, and any other worker
  // that is idle or spinning pops this P's timers once they are
  // kTimerStealNs late (steal_timers: the owner is stuck in a goroutine
  // that does not park).  next_timer mirrors the earliest `when`
  // (INT64_MAX: none) for lock-free checks.
  alignas(64) SpinLock timers_lock;
  std::vector<Timer> timers;  // min-heap on (when, seq)
  std::uint64_t timer_seq = 0;
  std::atomic<std::int64_t> next_timer{INT64_MAX};
  // When this P's worker, asleep in its poller, will wake by itself
  // (INT64_MAX: not before it is woken; 0: not asleep).  A timer pushed on
  // a busy P for an earlier time wakes it (see timer_push): otherwise nobody
  // would run that timer while the busy P's goroutine never parks.
  std::atomic<std::int64_t> sleep_until{0};
  std::atomic<std::size_t> ntimers{0};  // for stats
  std::vector<G*> gfree;      // G objects without stacks, for reuse
  std::vector<Stack> stacks;  // stack cache, LIFO (back: most recently used)
  std::size_t hot_stacks = 0;  // entries of `stacks` whose pages are resident
  std::uint64_t rng = 0;
  std::uint64_t gid_next = 0, gid_end = 0;  // this P's batch of goroutine ids
  std::unique_ptr<Poller> poller;  // created and destroyed on the worker thread
  std::vector<char> altstack;      // signal.cpp: the overflow report runs here
  std::thread thread;

  // ---- guarded by Sched::lock
  alignas(64) bool idle = false;          // on the idle list
  bool wake_spinning = false; // taken off the idle list by wakep(): spin on return
  P* idle_next = nullptr;

  // ---- stats: written by the owner, read by anyone
  alignas(64) Counter switches, steals, parks, spawned, exited;
};

// ---- the scheduler's shared state (defined in run.cpp) ------------------------

struct Sched {
  std::atomic<bool> running{false};   // run() is active
  std::atomic<bool> stopping{false};  // main returned: workers wind down
  int nprocs = 0;
  std::vector<std::unique_ptr<P>> ps;

  // `lock` guards the global run queue, the idle list, the global free
  // list and the pollers' lifetime as seen by wakep().  gq_size mirrors
  // the queue length for lock-free emptiness checks.
  SpinLock lock;
  // Arrays of pointers, not lists threaded through the Gs: moving a batch
  // must not chase pointers through G memory (1e6 queued Gs are 128 MB, and
  // each hop is a cache miss — perf showed it).
  std::deque<G*> gq;
  std::atomic<std::uint32_t> gq_size{0};
  P* idle_head = nullptr;
  std::atomic<int> npidle{0};
  std::atomic<int> nmspinning{0};

  // sysmon (sysmon.cpp): its thread, and the word it sleeps on:
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

  // The shared stack pool, between the Ps' own caches (proc.cpp, "Stack
  // caches").  stack_pool and stack_pool_hot are guarded by stack_lock;
  // stack_pool_hot (entries whose pages are resident) is also read without
  // it by an idle P deciding whether to wake up and scavenge.
  SpinLock stack_lock;
  std::vector<Stack> stack_pool;
  std::atomic<std::size_t> stack_pool_hot{0};

  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr main_err;

  // Randomize runnext and the yield fast path: Options::shake or
  // GORO_SHAKE=1, off by default in every build type.
  std::atomic<bool> shake{false};

  // stats()/goroutines() from any thread read `ps` while live; run() flips
  // `live` under this mutex before starting workers and before teardown.
  std::mutex life_mu;
  bool live = false;
};
extern Sched sched;

// ---- small helpers ----------------------------------------------------------------

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A clock for how long goroutines wait (dumps): the kernel's tick-resolution
// clock, read from the vDSO without the TSC, cheap enough for every park.
inline std::uint32_t coarse_ms() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000);
}

inline std::uint64_t fastrand(std::uint64_t& s) noexcept {  // xorshift64*
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

// ---- proc.cpp: Gs, switching, the per-worker P ----------------------------------

// The current worker's P.  noipa: the compiler must not assume two calls
// return the same value, because a goroutine may resume on another thread
// between them (it would otherwise keep the old thread's TLS address).
GORO_NOIPA P* this_p() noexcept;
void set_this_p(P* p) noexcept;             // worker start and end (run.cpp)
GORO_NOIPA EhGlobals* eh_globals() noexcept;  // this thread's __cxa_get_globals()
void schedule(P* p);                     // the worker's loop on g0, until the runtime stops
void scavenge_stacks(P* p) noexcept;     // owner only
void free_all_gs();                      // run() teardown: every slab, stack and callable

// ---- traceback.cpp: aborts and the goroutine dump ---------------------------------

// Writes s to stderr with write(2): no allocation, no lock.
void write_stderr(const char* s) noexcept;
// The goroutine dump of an abort: one "goroutine N [state]: ..." line per
// live G, written straight to stderr.  Best effort, for a process that is
// about to die: it only try-locks allgs (whoever aborts may hold it) and
// allocates nothing.
void dump_goroutines_on_abort() noexcept;
// casgstatus found g in `cur`, not the state it expected.
[[noreturn]] void bad_gstatus(const G* g, GState cur, GState from, GState to, const char* why) noexcept;

// Every write of G::state goes through here (Go's casgstatus): g moves from
// `from` to `to`.  Debug builds compare-and-swap and abort ("goro: bad g
// status transition: goroutine N from X to Y") when g is not in `from`;
// release builds store.  ready() checks in every build (make_runnable).
// `why` names the operation in the abort message.  Parking releases: a dump
// that sees `waiting` (and holds the G, see kGTraced) sees the context the
// G saved before it — free on x86.
inline void casgstatus(G* g, GState from, GState to, const char* why = nullptr) noexcept {
  const auto order = to == GState::waiting ? std::memory_order_release : std::memory_order_relaxed;
  if constexpr (GORO_DEBUG) {
    GState cur = from;
    if (!g->state.compare_exchange_strong(cur, to, order)) bad_gstatus(g, cur, from, to, why);
  } else {
    g->state.store(to, order);
  }
}

// ---- run queues (runq.cpp; the owner's hot operations are here, inline) ----------

bool runq_put_slow(P* p, G* g, std::uint32_t h, std::uint32_t t) noexcept;
G* runq_steal(P* p, P* victim) noexcept;   // by p's owner: half of victim's ring
void globq_put(G* g) noexcept;             // any thread
G* globq_get(P* p, std::uint32_t max) noexcept;  // one G; the batch's rest to p's ring
void drain_inbox(P* p) noexcept;           // owner: rehomed Gs to the ring

// Owner only.  next: put g in runnext, kicking the old runnext to the ring.
inline void runq_put(P* p, G* g, bool next) noexcept {
  GORO_ASSERT_OWNER(p);
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

// Owner only: runnext first, then the ring.
inline G* runq_get(P* p) noexcept {
  GORO_ASSERT_OWNER(p);
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

// Gs in p's ring (runnext not counted).  Any thread.
inline std::uint32_t runq_len(const P* p) noexcept {
  std::uint32_t h = p->runq_head.load(std::memory_order_acquire);
  std::uint32_t t = p->runq_tail.load(std::memory_order_acquire);
  return t - h < kRunqSize + 1 ? t - h : 0;  // a torn read may look negative
}

// ---- findrunnable.cpp: finding work, sharing it, the idle list ---------------------

G* find_runnable(P* p);             // on g0; nullptr once the runtime stops
void wakep() noexcept;              // any thread: wake one idle P if none spins
void stop_spinning(P* p) noexcept;

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

inline bool shaking(P* p) noexcept { return sched.shake.load(std::memory_order_relaxed) && (fastrand(p->rng) & 1); }

// A parked G whose stack a dump is reading (traceback.cpp): it stays
// parked until the dump lets go, as Go's _Gscan bit holds a G for the GC.
// Never seen outside the runtime (goroutines() reports it as waiting).
inline constexpr GState kGTraced = static_cast<GState>(0x80 | static_cast<std::uint8_t>(GState::waiting));
void make_runnable_traced(G* g, GState cur) noexcept;  // traceback.cpp

// waiting -> runnable, exactly once per park (a second ready aborts).  A G
// held by a dump is waited for (make_runnable_traced), off the fast path.
inline void make_runnable(G* g) noexcept {
  GState cur = GState::waiting;
  if (!g->state.compare_exchange_strong(cur, GState::runnable)) make_runnable_traced(g, cur);
}

// Readies g onto p, the caller's own P.
inline void ready_on(P* p, G* g, bool next) noexcept {
  make_runnable(g);
  if (next && shaking(p)) next = false;
  runq_put(p, g, next);
}

// ---- time.cpp: each P's timer heap ------------------------------------------------

void timer_add(std::int64_t when, G* g);  // on the worker, in park's unlock step
int run_timers(P* p, std::int64_t now) noexcept;    // p's due timers onto p
int steal_timers(P* p, std::int64_t now) noexcept;  // others' late timers onto p
std::int64_t next_timer_delay(P* p) noexcept;       // how long an idle p may sleep; -1: forever

inline bool timers_due(P* p) noexcept {
  std::int64_t next = p->next_timer.load(std::memory_order_relaxed);
  return next != INT64_MAX && next <= now_ns();
}

// ---- sysmon.cpp ----------------------------------------------------------------------

void sysmon_start();          // run(), with 2+ Ps
void sysmon_stop();           // run(), before the workers are joined
void sysmon_unpark() noexcept;  // a P leaves idle; caller holds sched.lock

// ---- signal.cpp: stack overflow report, SIGQUIT -------------------------------------------------

void install_overflow_handler();        // every run()
void install_quit_handler();            // every run(): SIGQUIT dumps goroutines (once per process)
void signal_stack_install(P* p);        // worker start: the alternate signal stack
void signal_stack_remove(P* p) noexcept;  // worker end

// ---- blocking.cpp ------------------------------------------------------------------------

void blocking_wait_idle();  // run() teardown: blocking() calls still in flight
std::uint64_t blocking_threads() noexcept;
std::uint64_t blocking_inflight() noexcept;

}  // namespace goro::detail
