// blocking.cpp — goro::blocking's helper threads (Go's syscall hand-off).
//
// A goroutine that must make a call the poller cannot express parks with
// reason "blocking call"; the park's unlock step queues the job here; a helper
// thread runs it and readies the G (onto the global queue: a helper is not a
// worker).  Helpers are created on demand, so N concurrent blocking calls get
// N threads up to kMaxHelpers, and exit after kHelperIdle without work.
#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "internal.hpp"

namespace goro::detail {
namespace {

// Bounds the thread count if a server floods blocking(): beyond this, calls
// queue.  256 threads cost ~2 MiB of RSS at most (stacks are lazily touched).
constexpr std::uint64_t kMaxHelpers = 256;
// Idle helpers linger this long for the next call, then exit.
constexpr auto kHelperIdle = std::chrono::seconds(10);

struct Pool {
  std::mutex mu;
  std::condition_variable cv;    // work arrived
  std::condition_variable idle;  // inflight dropped to 0
  BlockingJob* head = nullptr;
  BlockingJob* tail = nullptr;
  std::uint64_t threads = 0;
  std::uint64_t waiting = 0;  // helpers blocked on cv
  std::uint64_t inflight = 0; // submitted, G not yet readied
};

// Leaked on purpose: detached helpers may outlive static destruction.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void helper_main() {
  pthread_setname_np(pthread_self(), "goro-blocking");  // not the spawner's name
  Pool& pl = pool();
  std::unique_lock<std::mutex> l(pl.mu);
  for (;;) {
    while (!pl.head) {
      pl.waiting++;
      bool got = pl.cv.wait_for(l, kHelperIdle, [&] { return pl.head != nullptr; });
      pl.waiting--;
      if (!got) {
        pl.threads--;
        return;
      }
    }
    BlockingJob* job = pl.head;
    pl.head = job->next;
    if (!pl.head) pl.tail = nullptr;
    l.unlock();
    job->run(job);
    G* g = job->g;  // the job lives on g's stack: read before ready()
    goro::ready(g);
    l.lock();
    if (--pl.inflight == 0) pl.idle.notify_all();
  }
}

bool submit(G*, void* arg) {
  auto* job = static_cast<BlockingJob*>(arg);
  Pool& pl = pool();
  std::lock_guard<std::mutex> l(pl.mu);
  job->next = nullptr;
  if (pl.tail) {
    pl.tail->next = job;
  } else {
    pl.head = job;
  }
  pl.tail = job;
  if (pl.waiting == 0 && pl.threads < kMaxHelpers) {
    pl.threads++;
    std::thread(helper_main).detach();
  } else {
    pl.cv.notify_one();
  }
  return true;
}

}  // namespace

void blocking_submit(BlockingJob* job) {
  job->g = current_g();
  {
    std::lock_guard<std::mutex> l(pool().mu);
    pool().inflight++;
  }
  goro::park(WaitReason::blocking_call, submit, job);
}

void blocking_wait_idle() {
  Pool& pl = pool();
  std::unique_lock<std::mutex> l(pl.mu);
  pl.idle.wait(l, [&] { return pl.inflight == 0; });
}

std::uint64_t blocking_threads() noexcept {
  std::lock_guard<std::mutex> l(pool().mu);
  return pool().threads;
}

std::uint64_t blocking_inflight() noexcept {
  std::lock_guard<std::mutex> l(pool().mu);
  return pool().inflight;
}

}  // namespace goro::detail
