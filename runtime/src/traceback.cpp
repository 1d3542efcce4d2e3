// traceback.cpp — what the runtime tells about itself: aborts ("goro: ..."
// followed by the goroutine dump, like Go's throw printing tracebacks),
// stats(), goroutines() and dump_goroutines(), and the state and wait-reason
// names they print.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "internal.hpp"

namespace goro::detail {
namespace {

// Set by the first abort: a second one (an invariant broken while dumping)
// skips the dump.
std::atomic<bool> dying{false};

// One dump line: "goroutine 7 [chan receive]: worker 1\n".
void format_line(char (&line)[128], const GoroutineInfo& g) noexcept {
  const char* what = g.state == GState::waiting ? to_string(g.reason) : to_string(g.state);
  std::snprintf(line, sizeof line, "goroutine %llu [%s]%s: worker %d\n",
                static_cast<unsigned long long>(g.id), what, g.main ? " (main)" : "", g.worker);
}

GoroutineInfo info_of(const G* g, GState st) noexcept {
  GoroutineInfo gi;
  gi.id = g->id.load(std::memory_order_relaxed);
  gi.state = st;
  gi.reason = st == GState::waiting ? g->reason.load(std::memory_order_relaxed) : WaitReason::none;
  gi.worker = g->last_worker.load(std::memory_order_relaxed);
  gi.main = g->is_main.load(std::memory_order_relaxed);
  return gi;
}

}  // namespace

void write_stderr(const char* s) noexcept {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void dump_goroutines_on_abort() noexcept {
  if (dying.exchange(true)) return;
  // try_lock: the aborting thread may hold allg_lock itself (g_alloc), or
  // another thread may hold it forever now.  Unsorted, unlike
  // dump_goroutines(): sorting would allocate.
  if (!sched.allg_lock.try_lock()) {
    write_stderr("\ngoro: goroutine dump skipped: allgs is locked\n");
    return;
  }
  write_stderr("\n");
  for (auto& slab : sched.allg) {
    for (std::size_t i = 0; i < kGSlab; i++) {
      const G* g = &slab[i];
      GState st = g->state.load(std::memory_order_relaxed);
      if (st == GState::dead) continue;
      char line[128];
      format_line(line, info_of(g, st));
      write_stderr(line);
    }
  }
  sched.allg_lock.unlock();
}

void fatal(const char* msg) noexcept {
  write_stderr("goro: ");
  write_stderr(msg);
  write_stderr("\n");
  dump_goroutines_on_abort();
  std::abort();
}

void bad_gstatus(const G* g, GState cur, GState from, GState to, const char* why) noexcept {
  char buf[192];
  std::snprintf(buf, sizeof buf, "bad g status transition: goroutine %llu from %s to %s (expected %s)%s%s",
                static_cast<unsigned long long>(g->id.load(std::memory_order_relaxed)), to_string(cur),
                to_string(to), to_string(from), why ? ": " : "", why ? why : "");
  fatal(buf);
}

}  // namespace goro::detail

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
    case WaitReason::semacquire: return "semacquire";
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

Stats stats() {
  Stats s;
  s.stack_size = stack_size();
  s.stacks = stacks_mapped();
  s.blocking_threads = blocking_threads();
  s.blocking_inflight = blocking_inflight();
  std::lock_guard<std::mutex> life(sched.life_mu);
  if (!sched.live) return s;
  s.running = true;
  s.shake = sched.shake.load(std::memory_order_relaxed);
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
        const G* g = &slab[i];
        GState st = g->state.load(std::memory_order_relaxed);
        if (st != GState::dead) out.push_back(info_of(g, st));
      }
  }
  std::sort(out.begin(), out.end(), [](const GoroutineInfo& a, const GoroutineInfo& b) { return a.id < b.id; });
  return out;
}

std::string dump_goroutines() {
  std::string s;
  for (const GoroutineInfo& g : goroutines()) {
    char line[128];
    format_line(line, g);
    s += line;
  }
  return s;
}

}  // namespace goro
