/// @file goro/stats.hpp
/// Runtime statistics for /debug/vars, /metrics and /debug/goroutines.
/// Callable from any thread or goroutine, while the runtime runs or not (then
/// empty).  Figures are sampled without stopping the world: each is exact,
/// together they are a near-consistent snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "goro/runtime.hpp"

namespace goro {

/// A goroutine's scheduling state.
enum class GState : std::uint8_t {
  dead,      ///< not alive (a free G)
  runnable,  ///< queued, waiting for a worker
  running,   ///< on a worker now
  waiting,   ///< parked; GoroutineInfo::reason says why
};
/// The state's name as dumps print it ("chan receive" is a WaitReason's).
const char* to_string(GState s) noexcept;

/// One P (worker) as stats() sees it.
struct ProcStats {
  int id = 0;                 ///< worker id, [0, procs)
  std::uint32_t runq = 0;     ///< Gs in the local ring (runnext not included)
  bool runnext = false;       ///< a G waits in runnext
  bool idle = false;          ///< the worker sleeps in its poller
  std::size_t timers = 0;     ///< sleeping goroutines on this P's timer heap
  std::uint64_t switches = 0; ///< goroutine context switches on this P
  std::uint64_t steals = 0;   ///< Gs this P took from others' queues
  std::uint64_t parks = 0;    ///< park() calls on this P
  std::uint64_t spawned = 0;  ///< go() calls on this P
};

/// The runtime's counters: see stats().
struct Stats {
  bool running = false;                  ///< a run() is active
  bool shake = false;                    ///< the scheduler is shaken (Options::shake, GORO_SHAKE)
  int procs = 0;                         ///< number of Ps
  std::uint64_t goroutines_alive = 0;    ///< spawned and not yet exited
  std::uint64_t goroutines_spawned = 0;  ///< since run() started
  std::uint64_t switches = 0;            ///< goroutine context switches
  std::uint64_t steals = 0;              ///< Gs taken from another P's queue
  std::uint64_t parks = 0;               ///< park() calls
  std::uint32_t global_runq = 0;         ///< Gs in the global run queue
  int spinning = 0;                      ///< workers looking for work
  int idle = 0;                          ///< workers asleep in their poller
  std::uint64_t blocking_threads = 0;    ///< helper threads of goro::blocking
  std::uint64_t blocking_inflight = 0;   ///< goro::blocking calls in progress
  std::size_t stack_size = 0;            ///< bytes of usable stack per goroutine
  std::size_t stacks = 0;                ///< stacks mapped: in use, or cached for reuse (per P and pooled)
  std::vector<ProcStats> p;              ///< per P, by id
};
/// A snapshot of the runtime's counters (empty, running == false, outside run()).
Stats stats();

/// One goroutine as goroutines() sees it.
struct GoroutineInfo {
  std::uint64_t id = 0;                  ///< goroutine id (1 is run()'s main)
  GState state = GState::dead;           ///< scheduling state
  WaitReason reason = WaitReason::none;  ///< why it is parked, when waiting
  int worker = -1;                       ///< last worker it ran on
  bool main = false;                     ///< run()'s main goroutine
  /// How long it has been parked, when waiting: milliseconds, at the kernel
  /// tick's resolution (CLOCK_MONOTONIC_COARSE: 1-4 ms).
  std::uint64_t waited_ms = 0;
  /// A return address in the function that called go() (0 for main): the
  /// "created by" of dump_goroutines(true).
  std::uintptr_t created_pc = 0;
};
/// Every live goroutine, by id.
std::vector<GoroutineInfo> goroutines();

/// Go-style text, by goroutine id.  Without stacks one line per goroutine:
/// "goroutine 7 [chan receive]: worker 1".  With stacks, as Go's SIGQUIT
/// and /debug/pprof/goroutine?debug=2 print them: a header with the wait
/// reason and how long it has waited ("goroutine 7 [chan receive, 1200 ms]:"),
/// the parked goroutine's call stack, innermost first, one function (C++
/// names demangled) and its file:line per frame, and "created by" the
/// function that called go().  A running or runnable goroutine shows no
/// stack (only parked ones hold still), running ones the worker they run on.
/// Stacks are walked by frame pointers (goro::runtime compiles its users with
/// -fno-omit-frame-pointer) and symbolized with elfutils' libdw from the
/// binaries' symbol tables and debug info; frames of code built without frame
/// pointers may be missing.  The symbolizing costs milliseconds per dump
/// (more the first time: it reads the debug info) and runs only here, on the
/// caller's thread; each goroutine is held parked for the few microseconds
/// its stack takes to copy, never for the symbolizing.
std::string dump_goroutines(bool stacks = false);

/// The dump with stacks, written to stderr: what SIGQUIT prints.  goro
/// installs a SIGQUIT handler at the first run() if the signal has its
/// default disposition; unlike Go, the process goes on after the dump (a
/// server one pokes to see what it is doing should keep serving).  The
/// handler only wakes a thread the runtime keeps for this, which does the dump.
void dump_goroutines_to_stderr();

}  // namespace goro
