// A P whose run queue never empties still polls: every kGlobalEvery-th
// schedule (61) goes through find_runnable's non-blocking poll, or I/O
// completions (and the connections behind them) wait until the queue runs
// dry.  Counts polls, not time.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "goro/runtime.hpp"

namespace {

struct CountingPoller : goro::Poller {
  std::unique_ptr<goro::Poller> inner = goro::make_futex_poller();
  std::atomic<int>* nonblocking;
  int poll(std::chrono::nanoseconds t) override {
    if (t.count() == 0) nonblocking->fetch_add(1, std::memory_order_relaxed);
    return inner->poll(t);
  }
  void wake() override { inner->wake(); }
};

}  // namespace

TEST_CASE("a P that always has a goroutine queued still polls every 61 schedules") {
  constexpr int kYields = 61 * 200;
  std::atomic<int> polls{0}, during{-1};
  goro::run(
      [&] {
        // Two goroutines yielding to each other: the other one is always
        // queued, so the queue never runs dry and only the periodic poll polls.
        std::atomic<bool> done{false};
        goro::go([&] {
          for (int i = 0; i < kYields; i++) goro::yield();
          done.store(true);
        });
        goro::yield();  // let it start
        int before = polls.load();
        for (int i = 0; i < kYields; i++) goro::yield();
        int after = polls.load();
        while (!done.load()) goro::yield();
        during = after - before;
      },
      {.procs = 1, .poller = [&](int) {
         auto p = std::make_unique<CountingPoller>();
         p->nonblocking = &polls;
         return p;
       }});
  // 2 * kYields schedules; one in 61 polls.  Half of that leaves room for
  // the shaken yield fast path, and none at all is what a lost periodic
  // poll gives.
  MESSAGE("non-blocking polls during " << 2 * kYields << " schedules: " << during.load());
  CHECK(during.load() >= 2 * kYields / 61 / 2);
}
