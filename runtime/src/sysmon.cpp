// sysmon.cpp — the system monitor: one more thread when there are 2+ Ps
// (Go's sysmon, with one job).
//
// It is the backstop of "Sharing work" (proc.cpp): wakeups otherwise happen
// only when a busy P schedules (puts, picks), so work queued behind a
// goroutine that computes without parking would never be shared.  Every
// period (kSysmonNs, longer while calm: see below), sysmon wakes an idle P
// (wakep) for a P whose queue is old, or whose queued or runnext G waits
// while the P has not scheduled for a whole interval.  It never preempts
// and never takes a P away from its worker.
// After kSysmonIdleRounds with every P idle it parks on sched.sysmon_word
// until a P leaves idle (sysmon_unpark).
//
// While it finds nothing to do, it looks less often, as Go's sysmon does:
// after kSysmonCalmRounds rounds without a wake its period doubles, up to
// kSysmonMaxNs, and a wake brings it back to kSysmonNs.  A sysmon wake is
// not cheap on a loaded machine (a timer, a context switch, the thread it
// preempts): at 1,000 a second it cost ~1 µs of server CPU per hello
// request at 5,000 connections on 2 Ps, about 5%, for nothing, since busy
// Ps share their own backlog.  The price: work stuck behind a computing
// goroutine on a calm server waits up to two long periods, not two short.
#include <pthread.h>

#include <algorithm>

#include "internal.hpp"

namespace goro::detail {
namespace {

// sysmon's period, and how many all-idle periods before it parks.
constexpr std::int64_t kSysmonNs = 1'000'000;
constexpr int kSysmonIdleRounds = 20;
// Rounds without a wake before the period starts doubling, and its bound
// (Go's sysmon: 20 µs doubling after 1 ms of nothing to do, up to 10 ms).
constexpr int kSysmonCalmRounds = 10;
constexpr std::int64_t kSysmonMaxNs = 10'000'000;

// sysmon_word: 0 running, 1 parked because every P is idle, 2 stop.
constexpr std::uint32_t kRunning = 0, kParked = 1, kStop = 2;

void sysmon_main() noexcept {
  pthread_setname_np(pthread_self(), "goro-sysmon");
  std::vector<std::uint32_t> last_tick(sched.ps.size(), 0);
  int idle_rounds = 0, calm_rounds = 0;
  std::int64_t period = kSysmonNs;
  while (!sched.stopping.load()) {
    futex_wait(&sched.sysmon_word, kRunning, std::chrono::nanoseconds(period));
    if (sched.stopping.load()) break;
    if (sched.npidle.load() == sched.nprocs) {
      if (++idle_rounds < kSysmonIdleRounds) continue;
      idle_rounds = 0;
      std::uint32_t running = kRunning;
      if (!sched.sysmon_word.compare_exchange_strong(running, kParked)) continue;  // stopping
      if (sched.npidle.load() == sched.nprocs) futex_wait(&sched.sysmon_word, kParked);
      running = kParked;
      sched.sysmon_word.compare_exchange_strong(running, kRunning);
      calm_rounds = 0;
      period = kSysmonNs;
      continue;
    }
    idle_rounds = 0;
    bool can_wake = sched.npidle.load() > 0 && sched.nmspinning.load() == 0, woke = false;
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
        woke = true;
      }
    }
    if (woke) {
      calm_rounds = 0;
      period = kSysmonNs;
    } else if (++calm_rounds > kSysmonCalmRounds) {
      period = std::min(2 * period, kSysmonMaxNs);
    }
  }
}

}  // namespace

void sysmon_start() {
  sched.sysmon_word.store(kRunning);
  if (sched.nprocs > 1) sched.sysmon = std::thread(sysmon_main);
}

void sysmon_stop() {
  if (!sched.sysmon.joinable()) return;
  sched.sysmon_word.store(kStop);
  futex_wake(&sched.sysmon_word, 1);
  sched.sysmon.join();
}

void sysmon_unpark() noexcept {
  std::uint32_t parked = kParked;
  if (sched.sysmon_word.load() == kParked && sched.sysmon_word.compare_exchange_strong(parked, kRunning))
    futex_wake(&sched.sysmon_word, 1);
}

}  // namespace goro::detail
