#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <initializer_list>
#include <mutex>
#include <vector>

#include "goro/runtime.hpp"
#include "goro/stats.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_wait.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// An order check means something only if every goroutine went to sleep
// before its deadline (one that starts later returns at once, trivially in
// order).  Runs round(head), which returns how many goroutines started late,
// with each head start in turn until none did: a machine too slow for one
// gets a round with 10x as much rather than a verdict on a question it was
// not asked.  False if even the longest did not suffice.
template <class Round>
bool with_enough_head_start(std::initializer_list<std::chrono::milliseconds> heads, Round round) {
  for (auto head : heads) {
    if (round(head) == 0) return true;
    MESSAGE("a goroutine started after its deadline with a head start of " << head.count() << " ms; again");
  }
  return false;
}

}  // namespace

TEST_CASE("sleep_for on an OS thread never returns early") {
  for (auto d : {0ms, 1ms, 5ms, 20ms}) {
    auto start = Clock::now();
    goro::sleep_for(d);  // the behaviour under test: never early
    CHECK(Clock::now() - start >= d);
  }
}

TEST_CASE("sleep_until a past time returns at once") {
  auto start = Clock::now();
  goro::sleep_until(start - 1s);  // the behaviour under test
  CHECK(Clock::now() - start < 1s);
}

TEST_CASE("goroutine timers fire in order and never early") {
  // One P: wake order must equal deadline order.  Deadlines are given out of
  // order, 2 ms apart, after a head start.  The order is only defined if
  // every goroutine went to sleep before the first deadline: one that starts
  // after its deadline returns at once; each records whether it did
  // (with_enough_head_start).
  const int offsets_ms[] = {18, 6, 14, 2, 10, 11, 0, 24, 4, 16};
  std::vector<int> order;
  std::atomic<int> early{0}, late_start{0};
  REQUIRE(with_enough_head_start({50ms, 500ms, 5000ms}, [&](std::chrono::milliseconds head) {
    order.clear();
    early = 0;
    late_start = 0;
    goro::run([&] {
      goro::WaitGroup wg;
      auto base = Clock::now() + head;
      for (int i = 0; i < 10; i++) {
        wg.add(1);
        auto when = base + std::chrono::milliseconds(offsets_ms[i]);
        goro::go([&, when, base, i] {
          if (Clock::now() >= base) late_start++;
          goro::sleep_until(when);  // the behaviour under test: order, never early
          if (Clock::now() < when) early++;
          order.push_back(i);
          wg.done();
        });
      }
      wg.wait();
    }, {.procs = 1});
    CHECK(early.load() == 0);
    return late_start.load();
  }));
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
        goro::sleep_for(d);  // the behaviour under test: never early
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
  // One P.  main sleeps until the other goroutine has run 100 times; that
  // goroutine must see main parked in "sleep" while it runs.  Were sleep_for
  // to block the worker, it could not run at all and main's wait would time
  // out.  (Each of main's sleeps is the behaviour here, repeated until done.)
  std::atomic<int> ran{0}, ran_while_main_slept{0};
  goro::run([&] {
    goro::go([&] {
      for (int i = 0; i < 100; i++) {
        ran++;
        if (goro::test::count_parked(goro::WaitReason::sleep) == 1) ran_while_main_slept++;
        goro::yield();
      }
    });
    goro::test::poll_until([&] { return ran.load() == 100; }, [] { goro::sleep_for(20ms); },
                           "the other goroutine ran 100 times");
  }, {.procs = 1});
  CHECK(ran.load() == 100);
  CHECK(ran_while_main_slept.load() > 0);
}

TEST_CASE("goroutines sleeping until the same instant wake in the order they slept") {
  // Meaningful only if all of them slept before the instant
  // (with_enough_head_start).
  std::vector<int> slept, woke;
  std::atomic<int> late_start{0};
  REQUIRE(with_enough_head_start({20ms, 200ms, 2000ms}, [&](std::chrono::milliseconds head) {
    slept.clear();
    woke.clear();
    late_start = 0;
    goro::run([&] {
      goro::WaitGroup wg;
      auto when = Clock::now() + head;
      for (int i = 0; i < 8; i++) {
        wg.add(1);
        goro::go([&, i, when] {
          slept.push_back(i);  // one P: no race
          if (Clock::now() >= when) late_start++;
          goro::sleep_until(when);  // the behaviour under test: same instant, FIFO
          woke.push_back(i);
          wg.done();
        });
      }
      wg.wait();
    }, {.procs = 1});
    return late_start.load();
  }));
  REQUIRE(slept.size() == 8);
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
      auto end = Clock::now() + goro::test::kWaitLimit;  // bounds a failure only
      while (!main_woke.load() && Clock::now() < end) {
      }
      hog_gave_up = !main_woke.load();
    });
    auto want = Clock::now() + 5ms;
    goro::sleep_until(want);  // the behaviour under test: woken though its P is busy
    late = Clock::now() - want;
    main_woke = true;
  }, {.procs = 2});
  CHECK_FALSE(hog_gave_up);
  CHECK(late >= 0ns);  // never early; how late is the machine's, for benchmarks
  MESSAGE("woke " << std::chrono::duration_cast<std::chrono::microseconds>(late).count() << " us late");
}

TEST_CASE("a burst of sleepers waking together stays out of the global queue") {
  // 1,000 goroutines on one P sleep until the same instant: more than its
  // ring holds.  The due ones go to the ring a part at a time, the rest
  // waiting in the timer heap, so nothing readied after the burst queues
  // behind all of it in the global queue (which also holds off the P's
  // every-61st poll).  Each sleeper looks at the global queue as it wakes.
  // Meaningful only if all of them slept before the instant, which is set
  // once all have started (a goroutine's first run is slow under TSan:
  // 1,000 of them took more than 5 s on CI) and wait at a gate.
  constexpr int kSleepers = 1000;
  std::uint32_t most_global = 0;
  int woke = 0;
  std::atomic<int> late_start{0};
  REQUIRE(with_enough_head_start({50ms, 500ms, 5000ms}, [&](std::chrono::milliseconds head) {
    most_global = 0;
    woke = 0;
    late_start = 0;
    goro::run([&] {
      goro::WaitGroup wg, started, gate;
      Clock::time_point when;
      gate.add(1);
      for (int i = 0; i < kSleepers; i++) {
        wg.add(1);
        started.add(1);
        goro::go([&] {
          started.done();
          gate.wait();
          if (Clock::now() >= when) late_start++;
          goro::sleep_until(when);
          most_global = std::max(most_global, goro::stats().global_runq);  // one P: no race
          woke++;
          wg.done();
        });
      }
      started.wait();
      when = Clock::now() + head;
      gate.done();
      wg.wait();
    }, {.procs = 1});
    return late_start.load();
  }));
  CHECK(woke == kSleepers);
  CHECK(most_global == 0);  // the behaviour under test
}
