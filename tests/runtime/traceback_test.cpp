// Goroutine dumps with stacks (dump_goroutines(true), SIGQUIT): goroutines
// parked in functions with distinctive names must show those names, their
// wait reason, how long they have waited and the function that spawned
// them; a running goroutine shows no stack; dumping while goroutines park
// and wake must neither crash nor lose a wakeup.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/stats.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_wait.hpp"

using namespace std::chrono_literals;

namespace {

// Written after each blocking call, so the call is not a tail call: the
// caller's frame must stay on the stack for the dump to find.
volatile int sink;

[[gnu::noinline]] void traceback_test_receiver(goro::Chan<int> ch) {
  auto v = ch.recv();
  sink = v.value_or(0);
}

[[gnu::noinline]] void traceback_test_sleeper() {
  goro::sleep_for(1h);
  sink = 1;
}

[[gnu::noinline]] void traceback_test_locker(goro::Mutex& mu) {
  mu.lock();
  mu.unlock();
  sink = 2;
}

// The sleeper is left asleep: run() discards it.
[[gnu::noinline]] void traceback_test_spawner(goro::Chan<int> ch, goro::Mutex& mu, goro::WaitGroup& wg) {
  wg.add(2);
  goro::go([ch, &wg] {
    traceback_test_receiver(ch);
    wg.done();
  });
  goro::go([] { traceback_test_sleeper(); });
  goro::go([&mu, &wg] {
    traceback_test_locker(mu);
    wg.done();
  });
  sink = 3;
}

// The dump's paragraph (one per goroutine) that mentions `name`.
std::string block_with(const std::string& dump, const std::string& name) {
  std::size_t at = dump.find(name);
  if (at == std::string::npos) return {};
  std::size_t begin = dump.rfind("\n\n", at);
  begin = begin == std::string::npos ? 0 : begin + 2;
  std::size_t end = dump.find("\n\n", at);
  return dump.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// The waited-for milliseconds of a header "goroutine N [reason, 12 ms]:", or -1.
long long waited_ms(const std::string& block, const std::string& reason) {
  std::smatch m;
  std::regex re("^goroutine [0-9]+ \\[" + reason + ", ([0-9]+) (ms|s|minutes)\\]:");
  if (!std::regex_search(block, m, re)) return -1;
  long long n = std::stoll(m[1]);
  return m[2] == "ms" ? n : m[2] == "s" ? n * 1000 : n * 60'000;
}

}  // namespace

TEST_CASE("a dump with stacks names where parked goroutines wait and who created them") {
  goro::run([] {
    goro::Chan<int> ch;
    goro::Mutex mu;
    goro::WaitGroup wg;
    mu.lock();
    traceback_test_spawner(ch, mu, wg);
    using goro::WaitReason;
    using goro::test::count_parked;
    REQUIRE(goro::test::wait_until([] {
      return count_parked(WaitReason::chan_receive) == 1 && count_parked(WaitReason::sleep) == 1 &&
             count_parked(WaitReason::mutex) == 1;
    }, "the three goroutines parked"));
    // Until the coarse clock shows a wait, so the dump has one to print.
    REQUIRE(goro::test::wait_until([] {
      for (const auto& g : goro::goroutines())
        if (g.state == goro::GState::waiting && g.reason == WaitReason::chan_receive) return g.waited_ms >= 20;
      return false;
    }, "the receiver has waited 20 ms"));

    std::string dump = goro::dump_goroutines(true);
    INFO(dump);
    struct Want {
      const char* fn;
      const char* reason;
    };
    for (Want w : {Want{"traceback_test_receiver", "chan receive"}, Want{"traceback_test_sleeper", "sleep"},
                   Want{"traceback_test_locker", "mutex"}}) {
      CAPTURE(w.fn);
      std::string b = block_with(dump, w.fn);
      REQUIRE(!b.empty());
      long long ms = waited_ms(b, w.reason);
      CHECK(ms >= 0);
      CHECK(ms < 10 * 60'000);  // a stamp that was never written reads as the clock's age
      CHECK(b.find("goro::park(") != std::string::npos);  // the runtime's frames are there too
      CHECK(b.find("traceback_test.cpp:") != std::string::npos);  // file:line from the debug info
      CHECK(std::regex_search(b, std::regex("\ncreated by (\\(anonymous namespace\\)::)?traceback_test_spawner\\(")));
    }
    CHECK(waited_ms(block_with(dump, "traceback_test_receiver"), "chan receive") >= 20);
    // The one running (this one) shows where, and no stack.
    std::string mine = block_with(dump, "goroutine 1 [running] (main):");
    CHECK(mine.find("running on worker") != std::string::npos);
    CHECK(mine.find("goro::") == std::string::npos);
    CHECK(mine.find("created by") == std::string::npos);

    ch.send(1);
    mu.unlock();
    wg.wait();
  }, {.procs = 2});
}

// Dumps race goroutines that park and are readied all the time: each dump
// holds the parked ones (their wakers wait), none may crash, lose a wakeup
// or read a stack that runs.  The pairs ping-pong until three dumps are
// done; TSan checks the hand-off.
TEST_CASE("dumping while goroutines park and wake") {
  goro::run([] {
    constexpr int kPairs = 4;
    std::atomic<bool> stop{false}, lost{false};
    goro::WaitGroup wg;
    for (int i = 0; i < kPairs; i++) {
      goro::Chan<int> ping, pong;
      wg.add(2);
      goro::go([ping, pong, &wg, &stop, &lost] {
        for (int r = 0; !stop.load(); r++) {
          ping.send(r);
          if (*pong.recv() != r) lost.store(true);
        }
        ping.close();
        wg.done();
      });
      goro::go([ping, pong, &wg] {
        while (auto v = ping.recv()) pong.send(*v);
        wg.done();
      });
    }
    std::thread dumper([&] {
      for (int dumps = 0; dumps < 3;)
        if (goro::dump_goroutines(true).find("goroutine 1 ") != std::string::npos) dumps++;
      stop.store(true);
    });
    wg.wait();
    goro::blocking([&] { dumper.join(); });
    CHECK(!lost.load());
  }, {.procs = 2});
}

// SIGQUIT: the dump goes to stderr and the process goes on.  A child, so
// its stderr can be read: it parks a receiver, raises SIGQUIT, waits until
// the parent has seen the dump, then finishes its work and exits 0.  Run in
// a process of its own (CMakeLists.txt): no thread may exist at the fork.
TEST_CASE("SIGQUIT prints the dump with stacks and the process goes on") {
  signal(SIGPIPE, SIG_IGN);  // a child that died early fails the checks below, not the run
  int err[2], go_on[2];
  REQUIRE(pipe(err) == 0);
  REQUIRE(pipe(go_on) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    close(go_on[1]);
    goro::run([&] {
      goro::Chan<int> ch;
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([ch, &wg] {
        traceback_test_receiver(ch);
        wg.done();
      });
      // Bounded: a child that never sees it parked exits 1, and the parent
      // finds no dump.
      if (!goro::test::wait_for_parked(1, goro::WaitReason::chan_receive, "the receiver parked")) _exit(1);
      kill(getpid(), SIGQUIT);
      // Blocks this worker, not goro::blocking: a forked child has no
      // helper threads (blocking.cpp keeps the parent's), and nothing here
      // needs this worker until main sends.
      char c;
      CHECK(read(go_on[0], &c, 1) == 1);
      ch.send(1);
      wg.wait();
    }, {.procs = 2});
    _exit(0);
  }
  close(err[1]);
  close(go_on[0]);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + goro::test::kWaitLimit;
  while (block_with(out, "traceback_test_receiver").find("created by") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd p{err[0], POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    ssize_t n = read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  CHECK(write(go_on[1], "x", 1) == 1);
  close(go_on[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  close(err[0]);
  INFO(out);
  std::string b = block_with(out, "traceback_test_receiver");
  CHECK(b.find("[chan receive, ") != std::string::npos);
  CHECK(b.find("created by") != std::string::npos);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
