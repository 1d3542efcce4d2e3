// run.cpp — the runtime's life: run() sets up the Ps, starts one worker
// thread (M) per P and sysmon, runs main as goroutine 1, and tears it all
// down when main returns.  Also the scheduler's shared state, `sched`.
#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

#if GORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::detail {

Sched sched;

namespace {

void worker_main(P* p, const Options* opts) {
  set_this_p(p);
  char name[16];
  std::snprintf(name, sizeof name, "goro-w%d", p->id);
  pthread_setname_np(pthread_self(), name);
  signal_stack_install(p);

  p->eh = eh_globals();  // per thread, so fixed for this worker
  p->g0.is_g0 = true;
  casgstatus(&p->g0, GState::dead, GState::running);
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

  schedule(p);

  std::unique_ptr<Poller> poller;
  {
    std::lock_guard<SpinLock> l(sched.lock);
    poller = std::move(p->poller);
  }
  poller.reset();
  signal_stack_remove(p);
  set_this_p(nullptr);
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

// Options::shake, unless GORO_SHAKE is set: "0" turns it off, anything
// else on.
bool shake_wanted(const Options& opts) {
  const char* env = std::getenv("GORO_SHAKE");
  if (env && *env) return std::strcmp(env, "0") != 0;
  return opts.shake;
}

}  // namespace

}  // namespace goro::detail

namespace goro {
using namespace detail;

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
  sched.shake.store(shake_wanted(opts));
  install_overflow_handler();
  install_quit_handler();

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
  sysmon_start();
  {
    std::unique_lock<std::mutex> l(sched.done_mu);
    sched.done_cv.wait(l, [] { return sched.done; });
  }
  sysmon_stop();
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
  for (auto& s : sched.stack_pool) stack_free(s);
  sched.stack_pool.clear();
  sched.stack_pool_hot.store(0);
  sched.ps.clear();
  std::exception_ptr err = sched.main_err;
  sched.main_err = nullptr;
  sched.running.store(false);
  if (err) std::rethrow_exception(err);
}

}  // namespace goro
