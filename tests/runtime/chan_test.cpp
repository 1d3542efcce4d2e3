// Channels, select, WaitGroup and Mutex — in goroutines and on OS threads.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_wait.hpp"

using namespace std::chrono_literals;

namespace {
// "0 1 2": a wake order as doctest can print it.
std::string seq(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}
}  // namespace

TEST_CASE("pipeline over buffered and unbuffered channels across 4 Ps has exact totals") {
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{64}}) {
    CAPTURE(cap);
    constexpr int kProducers = 8, kPerProducer = 20'000, kMiddle = 4;
    long long total = 0, count = 0;
    goro::run([&] {
      goro::Chan<int> src(cap);
      goro::Chan<long long> dst(cap);
      goro::WaitGroup producers, middles;
      for (int p = 0; p < kProducers; p++) {
        producers.add(1);
        goro::go([&, p] {
          for (int i = 1; i <= kPerProducer; i++) src.send(p * kPerProducer + i);
          producers.done();
        });
      }
      for (int m = 0; m < kMiddle; m++) {
        middles.add(1);
        goro::go([&] {
          while (auto v = src.recv()) dst.send(static_cast<long long>(*v) * 2);
          middles.done();
        });
      }
      goro::go([&] {
        producers.wait();
        src.close();
        middles.wait();
        dst.close();
      });
      while (auto v = dst.recv()) {
        total += *v;
        count++;
      }
    }, {.procs = 4});
    long long n = static_cast<long long>(kProducers) * kPerProducer;
    CHECK(count == n);
    CHECK(total == n * (n + 1));  // 2 * sum(1..n)
  }
}

TEST_CASE("close wakes every blocked receiver and sender") {
  goro::run([] {
    goro::Chan<int> ch;
    std::atomic<int> woke{0}, threw{0};
    goro::WaitGroup wg;
    for (int i = 0; i < 50; i++) {
      wg.add(1);
      goro::go([&] {
        if (!ch.recv()) woke++;
        wg.done();
      });
    }
    goro::Chan<int> full(1);
    full.send(0);
    for (int i = 0; i < 10; i++) {
      wg.add(1);
      goro::go([&] {
        try {
          full.send(1);
        } catch (const goro::closed_channel_error&) {
          threw++;
        }
        wg.done();
      });
    }
    // Only a close that finds them parked tests the wake-up: 50 receivers
    // on ch, 10 senders on the full buffer.
    REQUIRE(goro::test::wait_for_parked(50, goro::WaitReason::chan_receive, "50 receivers parked on ch"));
    REQUIRE(goro::test::wait_for_parked(10, goro::WaitReason::chan_send, "10 senders parked on full"));
    CHECK(woke.load() == 0);
    CHECK(threw.load() == 0);
    ch.close();
    full.close();
    wg.wait();
    CHECK(woke.load() == 50);
    CHECK(threw.load() == 10);
    // The buffered value is still delivered after close, then nullopt.
    CHECK(full.recv() == 0);
    CHECK_FALSE(full.recv().has_value());
  }, {.procs = 2});
}

TEST_CASE("send on a closed channel and double close throw") {
  goro::Chan<std::string> ch(2);
  ch.send("a");
  ch.close();
  CHECK_THROWS_AS(ch.send("b"), goro::closed_channel_error);
  CHECK_THROWS_AS(ch.close(), goro::closed_channel_error);
  CHECK(ch.recv() == "a");
  CHECK_FALSE(ch.recv().has_value());
  std::optional<std::string> v;
  CHECK(ch.try_recv(v));
  CHECK_FALSE(v.has_value());
}

TEST_CASE("try_send/try_recv never block") {
  goro::Chan<int> ch(1);
  std::optional<int> v;
  CHECK_FALSE(ch.try_recv(v));
  CHECK(ch.try_send(1));
  CHECK_FALSE(ch.try_send(2));
  CHECK(ch.try_recv(v));
  CHECK(v == 1);
  goro::Chan<int> unbuffered;
  CHECK_FALSE(unbuffered.try_send(1));
}

TEST_CASE("select is fair among ready cases") {
  goro::run([] {
    goro::Chan<int> a(1), b(1), c(1);
    int hits[3] = {0, 0, 0};
    constexpr int kRounds = 30'000;
    for (int i = 0; i < kRounds; i++) {
      a.try_send(1);
      b.try_send(2);
      c.try_send(3);
      std::optional<int> va, vb, vc;
      int k = goro::select(goro::on_recv(a, va), goro::on_recv(b, vb), goro::on_recv(c, vc));
      REQUIRE((k >= 0 && k < 3));
      hits[k]++;
    }
    for (int h : hits) {
      CHECK(h > kRounds / 3 * 9 / 10);  // each within 10% of a third
      CHECK(h < kRounds / 3 * 11 / 10);
    }
  }, {.procs = 1});
}

TEST_CASE("select with default, send cases and blocking wakeups") {
  goro::run([] {
    goro::Chan<int> in, out;
    std::optional<int> v;
    CHECK(goro::try_select(goro::on_recv(in, v)) == -1);

    // The sender waits until main is parked in the select: the value must
    // wake it, not be found ready.
    goro::go([in] {
      goro::test::wait_for_parked(1, goro::WaitReason::select, "main parked in select");
      in.send(7);
    });
    CHECK(goro::select(goro::on_recv(in, v), goro::on_recv(out, v)) == 0);
    CHECK(v == 7);

    std::optional<int> got;
    goro::Chan<int> received;
    goro::go([&] {
      got = out.recv();
      received.close();
    });
    int x = 42;
    std::optional<int> never;
    CHECK(goro::select(goro::on_recv(in, never), goro::on_send(out, x)) == 1);
    CHECK_FALSE(received.recv().has_value());  // until the receiver has stored it
    CHECK(got == 42);

    // A closed channel is a ready receive (nullopt) ...
    goro::Chan<int> closed;
    closed.close();
    CHECK(goro::select(goro::on_recv(in, v), goro::on_recv(closed, v)) == 1);
    CHECK_FALSE(v.has_value());
    // ... and a send case on it throws.
    int y = 1;
    CHECK_THROWS_AS(goro::select(goro::on_send(closed, y)), goro::closed_channel_error);
  }, {.procs = 2});
}

TEST_CASE("selects racing on shared channels lose no value") {
  constexpr int kN = 20'000;
  long long sum = 0;
  goro::run([&] {
    goro::Chan<int> a, b(4), quit;
    goro::WaitGroup wg;
    for (int s = 0; s < 4; s++) {
      wg.add(1);
      goro::go([&, s] {
        for (int i = s; i < kN; i += 4) {
          int v = i;
          if (i % 2) {
            a.send(v);
          } else {
            goro::select(goro::on_send(a, v), goro::on_send(b, v));
          }
        }
        wg.done();
      });
    }
    goro::go([&] {
      wg.wait();
      quit.close();
    });
    for (;;) {
      std::optional<int> va, vb, vq;
      int k = goro::select(goro::on_recv(a, va), goro::on_recv(b, vb), goro::on_recv(quit, vq));
      if (k == 0) sum += *va;
      if (k == 1) sum += *vb;
      if (k == 2) break;
    }
    std::optional<int> rest;
    while (b.try_recv(rest) && rest) sum += *rest;
  }, {.procs = 4});
  CHECK(sum == static_cast<long long>(kN) * (kN - 1) / 2);
}

TEST_CASE("channels and WaitGroup work between OS threads and goroutines") {
  goro::Chan<int> to_g, to_t;
  std::thread t;
  goro::run([&] {
    t = std::thread([&] {
      for (int i = 0; i < 1000; i++) {
        to_g.send(i);                        // blocks the thread
        CHECK(to_t.recv() == i + 1);
      }
      to_g.close();
    });
    while (auto v = to_g.recv()) to_t.send(*v + 1);
  }, {.procs = 2});
  t.join();

  // No runtime at all: pure thread semantics.
  goro::Chan<int> ch;
  goro::WaitGroup wg;
  std::atomic<int> sum{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; i++) {
    wg.add(1);
    ts.emplace_back([&] {
      while (auto v = ch.recv()) sum += *v;
      wg.done();
    });
  }
  for (int i = 1; i <= 100; i++) ch.send(i);
  ch.close();
  wg.wait();
  for (auto& th : ts) th.join();
  CHECK(sum.load() == 5050);
}

// wait() returning means the WaitGroup is done with: freeing it then must be
// safe even while the done() that released it is still returning.  Each
// round frees its WaitGroup right after wait(); done() runs on another P (or
// an OS thread), so some rounds free it between done()'s decrement and its
// return — ASan and TSan (both run this in CI) report a use after free if
// done() touches the WaitGroup after the counter reached zero with nobody
// waiting.
TEST_CASE("a WaitGroup can be freed as soon as wait() returns") {
  constexpr int kRounds = 20'000;
  int rounds = 0;
  goro::run([&] {
    for (int i = 0; i < kRounds; i++) {
      auto wg = std::make_unique<goro::WaitGroup>();
      wg->add(1);
      goro::go([p = wg.get()] { p->done(); });
      if (i % 2) goro::yield();  // sometimes wait before done() runs, sometimes after
      wg->wait();
      wg.reset();
      rounds++;
    }
  }, {.procs = 2});
  // OS threads: the waiter blocks in its futex or sees zero at once.
  for (int i = 0; i < 2'000; i++) {
    auto wg = std::make_unique<goro::WaitGroup>();
    wg->add(1);
    std::thread t([p = wg.get()] { p->done(); });
    wg->wait();
    wg.reset();
    t.join();
    rounds++;
  }
  CHECK(rounds == kRounds + 2'000);
}

TEST_CASE("Mutex protects a counter across 4 Ps") {
  long counter = 0;
  goro::run([&] {
    goro::Mutex mu;
    goro::WaitGroup wg;
    for (int i = 0; i < 64; i++) {
      wg.add(1);
      goro::go([&] {
        for (int k = 0; k < 1000; k++) {
          std::lock_guard<goro::Mutex> l(mu);
          long c = counter;
          if (k % 100 == 0) goro::yield();  // hold it across a switch
          counter = c + 1;
        }
        wg.done();
      });
    }
    wg.wait();
    // Every lock was unlocked: the mutex is free again.
    CHECK(mu.try_lock());
    mu.unlock();
  }, {.procs = 4});
  CHECK(counter == 64'000);
}

// sync.hpp promises FIFO hand-off: unlock() gives the mutex to the longest
// waiter.  Waiters block one at a time (each observed parked before the next
// starts), so the order they blocked in is known; they must get it in that
// order.
TEST_CASE("Mutex hands off to its waiters in the order they blocked") {
  constexpr int kWaiters = 8;
  std::vector<int> order;
  goro::run([&] {
    goro::Mutex mu;
    goro::WaitGroup wg;
    mu.lock();
    for (int i = 0; i < kWaiters; i++) {
      wg.add(1);
      goro::go([&, i] {
        mu.lock();
        order.push_back(i);  // under mu
        mu.unlock();
        wg.done();
      });
      REQUIRE(goro::test::wait_for_parked(i + 1, goro::WaitReason::mutex, "waiter " + std::to_string(i) + " parked"));
    }
    mu.unlock();
    wg.wait();
  }, {.procs = 2});
  std::vector<int> want(kWaiters);
  for (int i = 0; i < kWaiters; i++) want[static_cast<size_t>(i)] = i;
  CHECK(seq(order) == seq(want));
}

// The same for channels: blocked receivers get values, and blocked senders
// deliver theirs, in the order they blocked.
TEST_CASE("a channel wakes blocked receivers and senders in the order they blocked") {
  constexpr int kN = 8;
  std::vector<int> recv_order, send_order;
  goro::run([&] {
    goro::Chan<int> ch;
    goro::WaitGroup wg;
    std::vector<int> got(kN, -1);
    for (int i = 0; i < kN; i++) {
      wg.add(1);
      goro::go([&, i] {
        got[static_cast<size_t>(i)] = ch.recv().value_or(-2);
        wg.done();
      });
      REQUIRE(goro::test::wait_for_parked(i + 1, goro::WaitReason::chan_receive,
                                          "receiver " + std::to_string(i) + " parked"));
    }
    for (int v = 0; v < kN; v++) ch.send(100 + v);
    wg.wait();
    for (int i = 0; i < kN; i++) recv_order.push_back(got[static_cast<size_t>(i)] - 100);

    for (int i = 0; i < kN; i++) {
      wg.add(1);
      goro::go([&, i] {
        ch.send(i);
        wg.done();
      });
      REQUIRE(goro::test::wait_for_parked(i + 1, goro::WaitReason::chan_send,
                                          "sender " + std::to_string(i) + " parked"));
    }
    for (int k = 0; k < kN; k++) send_order.push_back(ch.recv().value_or(-1));
    wg.wait();
  }, {.procs = 2});
  std::vector<int> want(kN);
  for (int i = 0; i < kN; i++) want[static_cast<size_t>(i)] = i;
  CHECK(seq(recv_order) == seq(want));
  CHECK(seq(send_order) == seq(want));
}

TEST_CASE("move-only values travel through channels") {
  goro::run([] {
    goro::Chan<std::unique_ptr<int>> ch(1);
    goro::go([ch] { ch.send(std::make_unique<int>(5)); });
    auto v = ch.recv();
    REQUIRE(v.has_value());
    CHECK(**v == 5);
  });
}
