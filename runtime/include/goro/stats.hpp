/// \file
/// Runtime statistics for /debug/vars, /metrics and
/// /debug/goroutines.  Callable from any thread or goroutine, while the runtime
/// runs or not (then empty).  Figures are sampled without stopping the world:
/// each is exact, together they are a near-consistent snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "goro/runtime.hpp"

namespace goro {

/// A goroutine's scheduling state, as a dump shows it.
enum class GState : std::uint8_t { dead, runnable, running, waiting };
/// The state's name in dumps ("runnable", "waiting", ...).
const char* to_string(GState s) noexcept;

/// One P (worker) of the scheduler, in Stats::p.
struct ProcStats {
  int id = 0;                 ///< the worker id, [0, procs)
  std::uint32_t runq = 0;     ///< Gs in the local ring (runnext not included)
  bool runnext = false;       ///< a G waits in runnext
  bool idle = false;          ///< the worker sleeps in its poller
  std::size_t timers = 0;     ///< sleeping goroutines on this P's timer heap
  /// @{
  /// This P's counters since run() started: context switches, Gs stolen
  /// from other Ps, parks, goroutines spawned.
  std::uint64_t switches = 0, steals = 0, parks = 0, spawned = 0;
  /// @}
};

/// The scheduler as a whole (stats()).
struct Stats {
  bool running = false;                  ///< run() is active
  bool shake = false;                    ///< the scheduler is shaken (Options::shake, GORO_SHAKE)
  int procs = 0;                         ///< Ps (worker threads)
  std::uint64_t goroutines_alive = 0;    ///< spawned and not yet exited
  std::uint64_t goroutines_spawned = 0;  ///< since run() started
  std::uint64_t switches = 0;            ///< goroutine context switches
  std::uint64_t steals = 0;              ///< Gs taken from another P's queue
  std::uint64_t parks = 0;               ///< park() calls since run() started
  std::uint32_t global_runq = 0;         ///< Gs in the global run queue
  int spinning = 0;                      ///< workers looking for work
  int idle = 0;                          ///< workers asleep in their poller
  std::uint64_t blocking_threads = 0;    ///< helper threads of goro::blocking
  std::uint64_t blocking_inflight = 0;   ///< goro::blocking calls running now
  std::size_t stack_size = 0;            ///< bytes of usable stack per goroutine
  std::size_t stacks = 0;                ///< stacks mapped: in use, or cached for reuse (per P and pooled)
  std::vector<ProcStats> p;              ///< one per P, by id
};
/// A snapshot of the scheduler; empty (running == false) outside run().
Stats stats();

/// One live goroutine, as goroutines() lists it.
struct GoroutineInfo {
  std::uint64_t id = 0;                  ///< goroutine_id(); main's is 1
  GState state = GState::dead;           ///< scheduling state
  WaitReason reason = WaitReason::none;  ///< when waiting
  int worker = -1;                       ///< last worker it ran on
  bool main = false;                     ///< the goroutine run() started
};
/// Every live goroutine, by id.
std::vector<GoroutineInfo> goroutines();
/// Go-style text: one "goroutine 7 [chan receive]:" line per goroutine.
std::string dump_goroutines();

}  // namespace goro
