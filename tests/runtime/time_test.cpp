#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("sleep_for on an OS thread never returns early") {
  for (auto d : {0ms, 1ms, 5ms, 20ms}) {
    auto start = Clock::now();
    goro::sleep_for(d);
    CHECK(Clock::now() - start >= d);
  }
}

TEST_CASE("sleep_until a past time returns at once") {
  auto start = Clock::now();
  goro::sleep_until(start - 1s);
  CHECK(Clock::now() - start < 1s);
}

TEST_CASE("goroutine timers fire in order and never early") {
  // One P: wake order must equal deadline order.  Deadlines are given out of
  // order, 2 ms apart, with a 50 ms head start so that no goroutine starts
  // after its deadline even on a loaded machine.
  std::vector<int> order;
  std::atomic<int> early{0};
  goro::run([&] {
    goro::WaitGroup wg;
    auto base = Clock::now() + 50ms;
    const int offsets_ms[] = {18, 6, 14, 2, 10, 11, 0, 24, 4, 16};
    for (int i = 0; i < 10; i++) {
      wg.add(1);
      auto when = base + std::chrono::milliseconds(offsets_ms[i]);
      goro::go([&, when, i] {
        goro::sleep_until(when);
        if (Clock::now() < when) early++;
        order.push_back(i);
        wg.done();
      });
    }
    wg.wait();
  }, {.procs = 1});
  CHECK(early.load() == 0);
  CHECK(order == std::vector<int>{6, 3, 8, 1, 4, 5, 2, 9, 0, 7});
}

TEST_CASE("many sleeping goroutines on several Ps never wake early") {
  std::atomic<int> early{0}, woke{0};
  goro::run([&] {
    goro::WaitGroup wg;
    for (int i = 0; i < 2000; i++) {
      wg.add(1);
      goro::go([&, i] {
        auto d = std::chrono::microseconds((i * 37) % 5000);
        auto start = Clock::now();
        goro::sleep_for(d);
        if (Clock::now() - start < d) early++;
        woke++;
        wg.done();
      });
    }
    wg.wait();
  }, {.procs = 2});
  CHECK(early.load() == 0);
  CHECK(woke.load() == 2000);
}

TEST_CASE("a sleeping goroutine does not block others on its worker") {
  std::atomic<int> ran{0};
  goro::run([&] {
    goro::go([&] {
      for (int i = 0; i < 100; i++) {
        ran++;
        goro::yield();
      }
    });
    goro::sleep_for(20ms);
    CHECK(ran.load() == 100);
  }, {.procs = 1});
}

TEST_CASE("goroutines sleeping until the same instant wake in the order they slept") {
  std::vector<int> slept, woke;
  goro::run([&] {
    goro::WaitGroup wg;
    auto when = Clock::now() + 20ms;
    for (int i = 0; i < 8; i++) {
      wg.add(1);
      goro::go([&, i] {
        slept.push_back(i);  // one P: no race
        goro::sleep_until(when);
        woke.push_back(i);
        wg.done();
      });
    }
    wg.wait();
  }, {.procs = 1});
  CHECK(woke == slept);
}

TEST_CASE("a sleeper whose worker is busy is woken by another worker") {
  // main sleeps on its P's timer heap, then a goroutine that never parks runs
  // on that P until main wakes.  The idle worker must run main's overdue
  // timer (and main) instead of waiting for the hog.
  std::atomic<bool> main_woke{false};
  std::chrono::nanoseconds late{0};
  bool hog_gave_up = false;
  goro::run([&] {
    goro::go([&] {
      auto end = Clock::now() + 3s;
      while (!main_woke.load() && Clock::now() < end) {
      }
      hog_gave_up = !main_woke.load();
    });
    auto want = Clock::now() + 5ms;
    goro::sleep_until(want);
    late = Clock::now() - want;
    main_woke = true;
  }, {.procs = 2});
  CHECK_FALSE(hog_gave_up);
  CHECK(late >= 0ns);
  CHECK(late < 1s);
  MESSAGE("woke " << std::chrono::duration_cast<std::chrono::microseconds>(late).count() << " us late");
}
