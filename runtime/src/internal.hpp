// internal.hpp — the runtime's private data: G, P, the scheduler (sched.cpp
// owns it and states the invariants), stacks (stack.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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
bool stack_guard_is_madvise() noexcept;

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
  G* link = nullptr;   // global run queue, free lists
  std::atomic<std::uint64_t> id{0};
  EhGlobals eh;
  std::atomic<int> last_worker{-1};
  std::atomic<GState> state{GState::dead};
  std::atomic<WaitReason> reason{WaitReason::none};
  std::atomic<bool> is_main{false};
  bool fn_heap = false;
  bool is_g0 = false;
#if GORO_ASAN
  void* asan_fake_stack = nullptr;
  const void* asan_bottom = nullptr;  // g0 only: thread stack bounds
  std::size_t asan_size = 0;
#endif
#if GORO_TSAN
  void* tsan_fiber = nullptr;
#endif
  alignas(8) unsigned char fnbuf[detail::kGFnInline];  // callables with alignment <= 8
};
#if !GORO_ASAN && !GORO_TSAN
static_assert(sizeof(G) == 128, "G should stay two cache lines");
#endif
}  // namespace goro

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

// Tuning: a ring of 256, as Go.  Large enough that a burst of spawns rarely
// spills to the global queue, small enough that stealing half is cheap.
inline constexpr std::uint32_t kRunqSize = 256;

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
  // owner's G has run for kRunnextGraceNs without a schedule (see sched.cpp).
  // Own cache line: written on every ready/spawn, polled by spinning thieves.
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
  // G has been running for a while (see steal_runnext).
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
  // ---- timers: the heap is guarded by timers_lock (the owner pushes and
  // runs them; an idle worker may run them when the owner is busy);
  // next_timer mirrors the earliest `when` (INT64_MAX: none) for lock-free
  // checks.
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
  std::vector<Stack> stacks;  // stack cache
  std::size_t hot_stacks = 0;
  std::uint64_t rng = 0;
  std::uint64_t gid_next = 0, gid_end = 0;  // this P's batch of goroutine ids
  std::unique_ptr<Poller> poller;  // created and destroyed on the worker thread
  std::vector<char> altstack;
  std::thread thread;

  // ---- guarded by Sched::lock
  alignas(64) bool idle = false;          // on the idle list
  bool wake_spinning = false; // taken off the idle list by wakep(): spin on return
  P* idle_next = nullptr;

  // ---- stats: written by the owner, read by anyone
  alignas(64) Counter switches, steals, parks, spawned, exited;
};

}  // namespace goro::detail
