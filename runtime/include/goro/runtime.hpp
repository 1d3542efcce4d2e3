/// \file
/// Goroutines (G) scheduled M:N over worker threads.
///
/// \code{.cpp}
///   goro::run([] {
///     goro::go([] { ... });        // spawn a goroutine
///     goro::yield();               // let others run
///   }, {.procs = 2});              // returns when main's goroutine ends
/// \endcode
///
/// park/ready is the one primitive everything blocking is built on (channels,
/// select, WaitGroup, Mutex, sleep, blocking(), and netpoll's I/O waits).
/// Design essay and invariants: runtime/src/proc.cpp; cross-cutting rules
/// (stacks, migration, what may block a worker): runtime/README.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

/// goro's runtime (library goro::runtime): goroutines scheduled M:N over
/// worker threads, channels, select, WaitGroup and Mutex, sleeping, and the
/// statistics behind /debug/vars.  Every blocking call parks a goroutine and
/// blocks an OS thread, so the same code runs on either.
namespace goro {

/// A goroutine; opaque outside the runtime.
struct G;

/// Why a goroutine is parked.  Names (to_string) are Go's, as shown in dumps.
enum class WaitReason : std::uint8_t {
  none,             ///< not parked
  chan_receive,     ///< Chan::recv
  chan_send,        ///< Chan::send
  select,           ///< select over channels
  select_no_cases,  ///< select() with no cases: forever
  sleep,            ///< sleep_for, sleep_until
  io_wait,          ///< netpoll: waiting for a descriptor or a completion
  mutex,            ///< Mutex::lock
  waitgroup,        ///< WaitGroup::wait
  blocking_call,    ///< blocking(): fn runs on a helper thread
  semacquire,  ///< waiting for a resource another holds (goro::pg::Pool)
  migrating,  ///< rehome(): on its way to a busier P
};
/// Go's name for the reason, as goroutine dumps show it ("chan receive").
const char* to_string(WaitReason r) noexcept;

// ---- the poller interface -------------------------------------------------

/// What a worker waits in when it runs out of goroutines.
///
/// A worker that runs out of goroutines calls its P's poller (Go's
/// netpoll(delay) from findRunnable).  One Poller object per P, created ON the
/// worker thread by Options::poller (so an io_uring ring can be
/// SINGLE_ISSUER/DEFER_TASKRUN for that thread), destroyed on the same thread.
class Poller {
 public:
  virtual ~Poller() = default;
  /// Waits for I/O completions or a wake().  Called only by the owning
  /// worker thread, never from a goroutine.
  /// timeout < 0 blocks until one
  /// arrives, 0 only checks, > 0 waits at most that long (the next timer).
  /// Readies (goro::ready) every G whose I/O completed — ready() called on a
  /// worker queues the G on that worker's P.  Returns how many it readied.
  virtual int poll(std::chrono::nanoseconds timeout) = 0;
  /// Makes the current or the next poll() return promptly: a wake
  /// that comes first must not be lost.  Any thread (a worker, a goroutine,
  /// a blocking() helper, a foreign thread).  Called with a runtime spinlock held:
  /// keep it short (an eventfd write, a futex wake) and never call back into
  /// goro from it.
  virtual void wake() = 0;
};

/// The default poller: a futex word; poll() only sleeps until wake()/timeout.
std::unique_ptr<Poller> make_futex_poller();

/// How run() starts the runtime.
struct Options {
  /// Number of Ps (worker threads).  0: the GOMAXPROCS environment variable,
  /// else the number of CPUs this process may run on.
  int procs = 0;
  /// Called once on each worker thread at start with the worker id [0, procs);
  /// empty: make_futex_poller().
  std::function<std::unique_ptr<Poller>(int worker)> poller;
  /// Shake the scheduler (tests): half of the readied and spawned Gs go to
  /// the back of the ring instead of runnext, and yield skips its fast path
  /// half of the time, as Go does under the race detector, so no test leans
  /// on one order by accident.  Off by default in every build type; the
  /// environment variable GORO_SHAKE overrides it (set and not "0": on; "0": off).
  bool shake = false;
};

/// Starts the runtime, runs main_fn as goroutine 1 and returns when it ends;
/// an exception escaping main_fn is rethrown here.  Goroutines still alive
/// then are discarded without unwinding (Go exits the process).  Waits for
/// blocking() calls still in flight.  One runtime at a time per process.
void run(std::function<void()> main_fn, Options opts = {});

/// True when the caller runs on a goroutine (false on any OS thread,
/// including the runtime's own worker and helper threads).
bool in_goroutine() noexcept;

/// Worker id [0, procs) of the calling goroutine or worker thread, -1 elsewhere.
/// The answer is only good until the next park point (goroutines migrate).
int current_worker() noexcept;

/// The poller of the caller's P (goroutine or worker thread), else nullptr.
/// Good only until the next park point, like current_worker().
Poller* current_poller() noexcept;

/// The running goroutine, or nullptr on an OS thread.
G* current_g() noexcept;
/// The goroutine's number, as dumps show it (main's goroutine is 1).
std::uint64_t goroutine_id(const G* g) noexcept;

/// Lets other goroutines run; returns at once outside a goroutine.
void yield();

/// Consolidation, for a goroutine about to arm a long wait on this P's
/// poller (a server's idle connection): if this P woke from sleep only for a
/// few goroutines while a lower-numbered P is running without a backlog of
/// old work, the caller moves to that P
/// (returns true, running there) so the wait lands on a poller that is
/// polled anyway and this P can stay asleep.  Otherwise returns false at
/// once.  See "Sharing work" in proc.cpp.
bool rehome();

/// The step park() runs once the goroutine is off its stack; false: ready
/// the goroutine at once (see park()).
using UnlockFn = bool (*)(G* g, void* arg);
/// Parks the calling goroutine (which must be one) with reason `r`.  Once the
/// goroutine's context is saved, `unlock(g, arg)` runs on the worker thread:
/// that is where the G may be published to whoever will ready() it (release a
/// lock, submit an SQE, push a timer).  If unlock returns false the G is
/// readied at once.  unlock runs on another goroutine's stack (or the
/// worker's): it must not block, park or throw; it may call ready() on other
/// Gs.  Returns after someone called ready(g).
void park(WaitReason r, UnlockFn unlock = nullptr, void* arg = nullptr);

/// Makes a parked G runnable.  Any thread.  On a worker thread (a goroutine,
/// or a Poller inside poll()) the G goes to that worker's P as runnext — so a
/// G readied by an I/O completion runs on the worker that reaped it; from any
/// other thread it goes to the global queue and an idle worker is woken.
/// Exactly one ready() per park(); readying a G that is not parked aborts.
void ready(G* g);

namespace detail {
// Spawning without std::function: the callable lives in the G.
struct FnOps {
  void (*invoke)(void* obj);   // calls the callable, then destroys it
  void (*destroy)(void* obj);  // destroys it without calling (teardown)
};
// Callables up to this size (5 pointers) live inside the G; larger ones on
// the heap.
inline constexpr std::size_t kGFnInline = 40;
// Returns storage for the callable: inside the G when it fits, else heap.
G* g_new(void** storage, std::size_t size, std::size_t align);
void g_spawn(G* g, const FnOps* ops);
}  // namespace detail

/// Spawns fn as a new goroutine.  Inside the runtime only (a goroutine, a
/// worker or any thread while run() is active); aborts otherwise.  Always
/// inlined: g_new records its return address as where the goroutine was
/// created (the dump's "created by"), which must be the caller of go().
template <class F>
[[gnu::always_inline]] inline void go(F&& fn) {
  using Fn = std::decay_t<F>;
  static constexpr detail::FnOps ops{
      [](void* p) {
        Fn* f = static_cast<Fn*>(p);
        struct Destroy {
          Fn* f;
          ~Destroy() { f->~Fn(); }
        } d{f};
        (*f)();
      },
      [](void* p) { static_cast<Fn*>(p)->~Fn(); }};
  void* storage = nullptr;
  G* g = detail::g_new(&storage, sizeof(Fn), alignof(Fn));
  ::new (storage) Fn(std::forward<F>(fn));
  detail::g_spawn(g, &ops);
}

namespace detail {
struct BlockingJob {
  void (*run)(BlockingJob*);
  G* g;
  BlockingJob* next;
};
void blocking_submit(BlockingJob* job);  // parks until job->run has finished
}  // namespace detail

/// Runs fn on a helper thread while the calling goroutine is parked with
/// reason "blocking call" (Go's syscall hand-off), so a call the poller cannot
/// express (getaddrinfo, a slow library) does not block a worker.  Returns
/// fn's result or rethrows its exception.  Outside a goroutine calls fn inline.
template <class F>
auto blocking(F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<R>, "goro::blocking: return a value, not a reference");
  if (!in_goroutine()) return fn();
  struct Job : detail::BlockingJob {
    std::remove_reference_t<F>* fn;  // F is a reference when fn is an lvalue
    std::exception_ptr err;
    std::optional<std::conditional_t<std::is_void_v<R>, char, R>> result;
  } job;
  job.fn = &fn;
  job.run = [](detail::BlockingJob* b) {
    Job* j = static_cast<Job*>(b);
    try {
      if constexpr (std::is_void_v<R>) {
        (*j->fn)();
      } else {
        j->result.emplace((*j->fn)());
      }
    } catch (...) {
      j->err = std::current_exception();
    }
  };
  detail::blocking_submit(&job);
  if (job.err) std::rethrow_exception(job.err);
  if constexpr (!std::is_void_v<R>) return std::move(*job.result);
}

}  // namespace goro
