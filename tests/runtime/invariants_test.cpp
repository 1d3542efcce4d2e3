// The runtime's self-checks, observed from outside: each case forks a child
// that breaks an invariant (or misuses the API in a way the runtime cannot
// survive) and checks that the child aborted with a "goro: ..." message
// followed by the goroutine dump, as Go's throw prints tracebacks.  Debug-only
// checks (owner P, every G state transition) guard runtime internals that no
// public call can reach; they run inside every other test of a Debug build.
#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>

#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/stats.hpp"
#include "goro/sync.hpp"
#include "child.hpp"
#include "goro_wait.hpp"

namespace {

using goro::test::Death;
using goro::test::in_child;

bool has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// in_child, with body as the main goroutine of a one-P runtime.
Death run_in_child(void (*body)()) {
  return in_child([body] { goro::run(body, {.procs = 1}); });
}

// Parks a new goroutine and returns it once it is parked (its unlock step
// has run, so its context is saved).  On one P, called from main.
goro::G* parked_goroutine() {
  static std::atomic<goro::G*> g{nullptr};
  static std::atomic<bool> parked{false};
  g = nullptr;
  parked = false;
  goro::go([] {
    g = goro::current_g();
    goro::park(goro::WaitReason::sleep, [](goro::G*, void*) {
      parked = true;
      return true;
    });
  });
  while (!parked) goro::yield();
  return g;
}

}  // namespace

TEST_CASE("a second ready of the same park aborts with the goroutine dump") {
  Death d = run_in_child([] {
    goro::G* g = parked_goroutine();
    goro::ready(g);
    goro::ready(g);  // g is runnable now, not waiting
  });
  INFO(d.err);
  CHECK(d.aborted);
  CHECK(has(d.err, "goro: bad g status transition: goroutine 2 from runnable to runnable (expected waiting)"));
  // The dump: main is running, goroutine 2 waits in the run queue.
  CHECK(has(d.err, "goroutine 1 [running] (main)"));
  CHECK(has(d.err, "goroutine 2 [runnable]"));
}

TEST_CASE("ready of a running goroutine aborts") {
  Death d = run_in_child([] { goro::ready(goro::current_g()); });
  INFO(d.err);
  CHECK(d.aborted);
  CHECK(has(d.err, "goro: bad g status transition: goroutine 1 from running to runnable"));
  CHECK(has(d.err, "goroutine 1 [running] (main)"));
}

TEST_CASE("API misuse the runtime cannot survive aborts with the goroutine dump") {
  SUBCASE("negative WaitGroup counter") {
    Death d = run_in_child([] {
      goro::WaitGroup wg;
      wg.done();
    });
    INFO(d.err);
    CHECK(d.aborted);
    CHECK(has(d.err, "goro: negative WaitGroup counter"));
    CHECK(has(d.err, "goroutine 1 [running] (main)"));
  }
  SUBCASE("unlock of an unlocked Mutex") {
    Death d = run_in_child([] {
      goro::Mutex mu;
      mu.unlock();
    });
    INFO(d.err);
    CHECK(d.aborted);
    CHECK(has(d.err, "goro: unlock of unlocked Mutex"));
    CHECK(has(d.err, "goroutine 1 [running] (main)"));
  }
  SUBCASE("an exception escaping a goroutine other than main") {
    Death d = run_in_child([] {
      goro::go([] { throw std::runtime_error("boom"); });
      for (;;) goro::yield();  // main keeps running until the child dies
    });
    INFO(d.err);
    CHECK(d.aborted);
    CHECK(has(d.err, "goro: goroutine 2: uncaught exception: boom"));
    CHECK(has(d.err, "goroutine 2 [running]"));
    CHECK(has(d.err, "goroutine 1 ["));
  }
}

TEST_CASE("park outside a goroutine aborts") {
  Death d = in_child([] { goro::park(goro::WaitReason::sleep); });
  INFO(d.err);
  CHECK(d.aborted);
  CHECK(has(d.err, "goro: park outside a goroutine"));
}

// The one legal way for a channel to have waiters in both queues (see
// goro/chan.hpp): a select blocked on an unbuffered channel for sending and
// receiving at once.  Plain operations then pair with it and nothing aborts.
TEST_CASE("a select waiting both ways on one unbuffered channel is not a broken invariant") {
  for (int plain_recv = 0; plain_recv < 2; plain_recv++) {
    int won = -1;
    std::optional<int> got;
    goro::run([&] {
      goro::Chan<int> ch;
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&] {
        int v = 7;
        std::optional<int> in;
        won = goro::select(goro::on_send(ch, v), goro::on_recv(ch, in));
        if (won == 1) got = in;
        wg.done();
      });
      // Until the select sits in both queues.
      REQUIRE(goro::test::wait_for_parked(1, goro::WaitReason::select, "the select parked on both queues"));
      if (plain_recv) {
        got = ch.recv();  // takes the select's send
      } else {
        ch.send(42);      // fills the select's receive
      }
      wg.wait();
    }, {.procs = 1});
    CAPTURE(plain_recv);
    CHECK(won == (plain_recv ? 0 : 1));
    CHECK(got == (plain_recv ? 7 : 42));
  }
}
