// netpoll: goroutines parked on real sockets over loopback.  One binary for
// both backends: CTest's `netpoll` entry runs it on epoll, `netpoll.uring` on
// io_uring (GORO_TEST_POLLER; unset runs both).  Where the kernel refuses
// io_uring the uring entry says why and exits 77, which CTest shows as skipped.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend.hpp"  // netpoll internals, via goro::netpoll_internal: FaultyBackend
#include "goro/netpoll/conn.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/netpoll/listener.hpp"
#include "goro/netpoll/poller.hpp"
#include "goro/runtime.hpp"
#include "goro/stats.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "goro_wait.hpp"
#include "skip.hpp"

using namespace std::chrono_literals;
using goro::netpoll::Conn;
using goro::netpoll::Listener;
using goro::netpoll::PollerKind;

namespace {

// The backends under test: $GORO_TEST_POLLER (epoll or uring; CTest runs
// one entry for each), else both.  Where io_uring was asked for and the
// kernel refuses it, the process exits 77, which CTest reports as Skipped.
std::vector<PollerKind> backends() {
  const char* only = std::getenv("GORO_TEST_POLLER");
  std::string want = only ? only : "";
  std::vector<PollerKind> kinds;
  if (want.empty() || want == "epoll") kinds.push_back(PollerKind::epoll);
  if (want.empty() || want == "uring") {
    auto choice = goro::netpoll::choose_poller(PollerKind::automatic);
    if (choice.kind == PollerKind::uring) {
      kinds.push_back(PollerKind::uring);
    } else if (want == "uring") {
      goro::test::skip_process("io_uring unavailable: " + choice.detail);
    } else {
      MESSAGE("io_uring cases not run: " << choice.detail);
    }
  }
  REQUIRE_MESSAGE(!kinds.empty(), "GORO_TEST_POLLER must be epoll or uring, not " << want);
  return kinds;
}

void run_on(PollerKind kind, int procs, std::function<void()> fn) {
  goro::Options o;
  o.procs = procs;
  o.poller = goro::netpoll::poller_factory(kind);
  goro::run(std::move(fn), std::move(o));
}

// A connected pair of non-blocking TCP sockets on 127.0.0.1.
std::pair<Conn, Conn> tcp_pair() {
  Listener l;
  const char* what;
  REQUIRE(l.listen("127.0.0.1", 0, 16, &what) == 0);
  Conn a, b;
  REQUIRE(Conn::connect(a, "127.0.0.1", l.port()) == 0);
  REQUIRE(l.accept(b, nullptr) == 0);
  return {std::move(a), std::move(b)};
}

// A Unix socketpair whose first end has a 4 KiB send buffer, so writes are
// short and hit EAGAIN.  (TCP with tiny buffers stalls in zero-window
// probes, which would test TCP, not write_all.)
std::pair<Conn, Conn> small_sndbuf_pair() {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  return {Conn(sv[0]), Conn(sv[1])};
}

}  // namespace

TEST_CASE("echo over loopback with 1000 concurrent goroutines moves every byte") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    constexpr int kClients = 1000;
    constexpr size_t kBytes = 20'000;  // more than one read, often more than one write
    std::atomic<uint64_t> echoed{0}, verified{0};
    // What went wrong, by kind, with the last error code seen.
    std::atomic<int> connect_failed{0}, write_failed{0}, read_failed{0}, mismatched{0}, last_error{0};
    run_on(kind, 2, [&] {
      Listener l;
      const char* what;
      REQUIRE(l.listen("127.0.0.1", 0, 4096, &what) == 0);
      int port = l.port();
      goro::netpoll::Interrupt stop;
      goro::WaitGroup servers;
      servers.add(1);
      goro::go([&] {
        goro::WaitGroup conns;
        for (int i = 0; i < kClients; ++i) {
          Conn c;
          if (l.accept(c, &stop) < 0) break;
          conns.add(1);
          goro::go([&conns, &echoed, c = std::move(c)]() mutable {
            char buf[4096];
            for (;;) {
              ssize_t n = c.read(buf, goro::netpoll::kNoDeadline);
              if (n <= 0) break;
              if (c.write_all({buf, static_cast<size_t>(n)}, goro::netpoll::kNoDeadline) < 0) break;
              echoed += static_cast<uint64_t>(n);
            }
            conns.done();
          });
        }
        conns.wait();
        servers.done();
      });
      goro::WaitGroup clients;
      for (int i = 0; i < kClients; ++i) {
        clients.add(1);
        goro::go([&, i] {
          Conn c;
          if (int r = Conn::connect(c, "127.0.0.1", port); r < 0) {
            ++connect_failed;
            last_error = r;
            clients.done();
            return;
          }
          std::string out(kBytes, static_cast<char>('a' + i % 26));
          // Write and read concurrently: the echo would stall a sender that
          // filled both socket buffers before reading.
          goro::WaitGroup writer;
          writer.add(1);
          goro::go([&] {
            if (int r = c.write_all(out, goro::netpoll::kNoDeadline); r < 0) ++write_failed, last_error = r;
            writer.done();
          });
          std::string in;
          char buf[8192];
          // No deadline: how long the echo takes is the machine's (CTest's
          // timeout bounds a hang).
          while (in.size() < kBytes) {
            ssize_t n = c.read(buf, goro::netpoll::kNoDeadline);
            if (n <= 0) {
              ++read_failed;
              last_error = static_cast<int>(n);
              break;
            }
            in.append(buf, static_cast<size_t>(n));
          }
          writer.wait();
          if (in == out) verified += in.size();
          else ++mismatched;
          clients.done();
        });
      }
      clients.wait();
      servers.wait();
    });
    CAPTURE(last_error.load());
    CHECK(connect_failed == 0);
    CHECK(write_failed == 0);
    CHECK(read_failed == 0);
    CHECK(mismatched == 0);
    CHECK(verified == uint64_t{kClients} * kBytes);
    CHECK(echoed == uint64_t{kClients} * kBytes);
  }
}

TEST_CASE("a read deadline fires, never early") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = tcp_pair();
      char buf[16];
      auto start = goro::netpoll::Clock::now();
      ssize_t n = b.read(buf, start + 50ms);
      CHECK(n == -ETIMEDOUT);
      CHECK(goro::netpoll::Clock::now() - start >= 50ms);
      // The connection still works after a timeout.
      REQUIRE(a.write_all("x", goro::netpoll::kNoDeadline) == 0);
      CHECK(b.read(buf, goro::netpoll::deadline_in(5s)) == 1);
    });
  }
}

TEST_CASE("shutting a connection down wakes the goroutine parked on it") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = tcp_pair();
      // Atomic: TSan cannot see the order the kernel imposes (the shutdown
      // below completes the wait that returns it).
      std::atomic<ssize_t> result{1};
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&, &b = b] {
        char buf[16];
        result = b.read(buf, goro::netpoll::kNoDeadline);
        wg.done();
      });
      // Only a wait that is parked tests the wake-up.
      REQUIRE(goro::test::wait_for_parked(1, goro::WaitReason::io_wait, "the reader parked in IO wait"));
      CHECK(result == 1);
      // From an OS thread, as the server's force-close does.
      std::thread([&b = b] { b.shutdown(); }).join();
      wg.wait();
      CHECK(result == 0);
    });
  }
}

TEST_CASE("an interrupt wakes a parked wait with ECANCELED") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    goro::netpoll::Interrupt intr;
    run_on(kind, 2, [&] {
      auto [a, b] = tcp_pair();
      std::atomic<int> r{1};  // atomic: as above
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&, &b = b] {
        r = b.wait_readable(goro::netpoll::kNoDeadline, &intr);
        wg.done();
      });
      REQUIRE(goro::test::wait_for_parked(1, goro::WaitReason::io_wait, "the waiter parked in IO wait"));
      CHECK(r == 1);
      std::thread([&] { intr.fire(); }).join();
      wg.wait();
      CHECK(r == -ECANCELED);
    });
  }
}

namespace {
struct Flag final : goro::netpoll::Callback {
  std::atomic<int> res{1};
  std::atomic<int> calls{0};
  void on_ready(int r, std::span<const char>) override {
    res = r;
    ++calls;
  }
};

// Records what on_ready was lent (it must copy: the buffer goes back).
struct Capture final : goro::netpoll::Callback {
  int res = 1;
  int calls = 0;
  std::string data;
  void on_ready(int r, std::span<const char> d) override {
    res = r;
    data.assign(d.begin(), d.end());
    ++calls;
  }
};
}  // namespace

TEST_CASE("accept takes a burst of connections; the interrupt ends it; close while armed frees its queue") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [kind] {
      constexpr int kConns = 300;
      Listener l;
      const char* what;
      REQUIRE(l.listen("127.0.0.1", 0, 1024, &what) == 0);
      int port = l.port();
      goro::netpoll::Interrupt stop;
      std::atomic<int> accepted{0};
      std::atomic<int> result{1};
      goro::WaitGroup done;
      done.add(1);
      auto before = goro::netpoll::poller_stats();
      goro::go([&] {
        std::vector<Conn> held;
        for (;;) {
          Conn c;
          int r = l.accept(c, &stop);
          if (r < 0) {
            result = r;
            break;
          }
          held.push_back(std::move(c));
          ++accepted;
        }
        done.done();
      });
      // Clients on an OS thread: a burst of connects, all held open.
      std::vector<int> clients;
      std::thread t([&] {
        for (int i = 0; i < kConns; ++i) {
          int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_in a{};
          a.sin_family = AF_INET;
          a.sin_port = htons(static_cast<uint16_t>(port));
          a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) clients.push_back(fd);
          else ::close(fd);
        }
      });
      t.join();
      REQUIRE(clients.size() == static_cast<size_t>(kConns));
      goro::test::wait_until([&] { return accepted.load() == kConns; }, "all 300 connections accepted");
      CHECK(accepted == kConns);
      stop.fire();
      done.wait();
      CHECK(result == -ECANCELED);
      auto after = goro::netpoll::poller_stats();
      if (kind == PollerKind::uring) CHECK(after.accepts_multishot - before.accepts_multishot == kConns);
      else CHECK(after.accepts_multishot == before.accepts_multishot);
      for (int fd : clients) ::close(fd);

      // A listener closed while its multishot ACCEPT is armed: the ring's
      // last completion frees the queue (ASan's leak check watches), and
      // the port stops taking connections.
      Listener l2;
      REQUIRE(l2.listen("127.0.0.1", 0, 16, &what) == 0);
      int port2 = l2.port();
      auto [a, b] = std::pair<Conn, Conn>{};
      REQUIRE(Conn::connect(a, "127.0.0.1", port2) == 0);
      REQUIRE(l2.accept(b, nullptr) == 0);  // arms it (io_uring) and takes one
      l2.close();
      // Once the ring reaps the multishot's end the socket is gone; until
      // then a connect may still land in its backlog.
      int last = 0;
      goro::test::wait_until([&] {
        Conn refused;
        last = Conn::connect(refused, "127.0.0.1", port2);
        return last == -ECONNREFUSED;
      }, "the closed listener's port to refuse connections");
      CHECK(last == -ECONNREFUSED);
    });
  }
}

TEST_CASE("an idle wait brings its bytes; a burst beyond the buffer ring falls back to recv, losing none") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 1, [kind] {
      // More connections than the io_uring backend's 128 provided buffers,
      // all armed, then all written to before the P polls once: the RECVs
      // go in together, the first take buffers, the rest get -ENOBUFS.
      constexpr int kConns = 400;
      std::vector<Conn> ours, theirs;
      std::vector<Capture> waits(kConns);
      for (int i = 0; i < kConns; ++i) {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        ours.emplace_back(sv[0]);
        theirs.emplace_back(sv[1]);
      }
      auto before = goro::netpoll::poller_stats();
      for (int i = 0; i < kConns; ++i) REQUIRE(ours[i].when_readable(goro::netpoll::kNoDeadline, nullptr, &waits[i]));
      for (int i = 0; i < kConns; ++i) REQUIRE(theirs[i].write_all("request " + std::to_string(i), {}) == 0);
      auto all_called = [&] {
        for (auto& w : waits)
          if (w.calls == 0) return false;
        return true;
      };
      REQUIRE(goro::test::wait_until(all_called, "every idle wait's callback"));
      int lent = 0;
      for (int i = 0; i < kConns; ++i) {
        CAPTURE(i);
        CHECK(waits[i].calls == 1);
        CHECK(waits[i].res == 0);
        std::string got = waits[i].data;
        if (got.empty()) {
          // "Read it yourself": the bytes are still in the socket.
          char buf[64];
          ssize_t n = ours[i].read(buf, goro::netpoll::deadline_in(1s));
          REQUIRE(n > 0);
          got.assign(buf, static_cast<size_t>(n));
        } else {
          ++lent;
        }
        CHECK(got == "request " + std::to_string(i));
      }
      auto after = goro::netpoll::poller_stats();
      CHECK(after.recv_buffered - before.recv_buffered == static_cast<uint64_t>(lent));
      if (kind == PollerKind::uring) {
        CHECK(lent > 0);
        CHECK(lent < kConns);  // the ring ran dry...
        CHECK(after.recv_nobufs - before.recv_nobufs == static_cast<uint64_t>(kConns - lent));  // ...and said so
      } else {
        CHECK(lent == 0);  // epoll only reports readiness
      }

      // Waits that end in EOF, more of them than the ring has buffers: none
      // may keep a buffer (an EOF completion can carry one), so a wait after
      // them still gets its bytes lent.
      for (int i = 0; i < kConns; ++i) {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        Conn mine(sv[0]), peer(sv[1]);
        Capture eof;
        REQUIRE(mine.when_readable(goro::netpoll::kNoDeadline, nullptr, &eof));
        peer.close();
        REQUIRE(goro::test::wait_until([&] { return eof.calls != 0; }, "the EOF wait's callback"));
        REQUIRE(eof.calls == 1);
        CHECK(eof.res == 0);
        CHECK(eof.data.empty());
      }
      int sv[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
      Conn mine(sv[0]), peer(sv[1]);
      Capture last;
      REQUIRE(mine.when_readable(goro::netpoll::kNoDeadline, nullptr, &last));
      REQUIRE(peer.write_all("after", {}) == 0);
      REQUIRE(goro::test::wait_until([&] { return last.calls != 0; }, "the last wait's callback"));
      REQUIRE(last.calls == 1);
      if (kind == PollerKind::uring) CHECK(last.data == "after");
    });
  }
}

TEST_CASE("when_readable holds a connection without a goroutine") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = tcp_pair();
      Flag on_data, on_timeout;
      uint64_t before = goro::stats().goroutines_alive;
      REQUIRE(b.when_readable(goro::netpoll::kNoDeadline, nullptr, &on_data));
      CHECK(goro::stats().goroutines_alive == before);  // nothing parked
      // Without data it must not fire: a sentinel armed after it on the same
      // P, on a socket that already has data, completing shows the poller
      // has looked at both.
      {
        auto [s1, s2] = tcp_pair();
        Flag sentinel;
        REQUIRE(s1.write_all("s", goro::netpoll::kNoDeadline) == 0);
        REQUIRE(s2.when_readable(goro::netpoll::kNoDeadline, nullptr, &sentinel));
        REQUIRE(goro::test::wait_until([&] { return sentinel.calls.load() != 0; }, "the sentinel's callback"));
      }
      CHECK(on_data.calls == 0);
      REQUIRE(a.write_all("ping", goro::netpoll::kNoDeadline) == 0);
      goro::test::wait_until([&] { return on_data.calls.load() != 0; }, "the data wait's callback");
      CHECK(on_data.calls == 1);
      CHECK(on_data.res == 0);

      auto [c, d] = tcp_pair();
      auto start = goro::netpoll::Clock::now();
      REQUIRE(d.when_readable(start + 30ms, nullptr, &on_timeout));
      goro::test::wait_until([&] { return on_timeout.calls.load() != 0; }, "the timed wait's callback");
      CHECK(on_timeout.calls == 1);
      CHECK(on_timeout.res == -ETIMEDOUT);
      CHECK(goro::netpoll::Clock::now() - start >= 30ms);
    });
  }
}

TEST_CASE("write_all survives short writes and EAGAIN into a small socket buffer") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = small_sndbuf_pair();
      constexpr size_t kTotal = 4 << 20;
      std::string payload(kTotal, '\0');
      for (size_t i = 0; i < kTotal; ++i) payload[i] = static_cast<char>(i * 7 + i / 4096);
      int wrote = 1;
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&, &a = a] {
        // Three buffers, so short writes land inside and across them.
        iovec iov[3] = {{payload.data(), 1000}, {payload.data() + 1000, kTotal / 2},
                        {payload.data() + 1000 + kTotal / 2, kTotal - 1000 - kTotal / 2}};
        wrote = a.write_all(std::span<const iovec>(iov, 3), goro::netpoll::deadline_in(60s));
        wg.done();
      });
      std::string got;
      char buf[3000];  // odd-sized reads
      while (got.size() < kTotal) {
        ssize_t n = b.read(buf, goro::netpoll::deadline_in(60s));
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      wg.wait();
      CHECK(wrote == 0);
      CHECK(got.size() == kTotal);
      CHECK(got == payload);
    });
  }
}

TEST_CASE("write_all with a stall timeout: a slow reader gets everything, a stopped one times out") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = small_sndbuf_pair();
      // The reader takes 8 KiB every 20 ms: the whole write lasts ~1.6 s,
      // four times the 400 ms stall limit, but no gap comes near it.  A
      // deadline for the whole write (the old semantics) fails this.
      constexpr size_t kTotal = 640 << 10;
      constexpr auto kStall = 400ms;
      std::string payload(kTotal, '\0');
      for (size_t i = 0; i < kTotal; ++i) payload[i] = static_cast<char>(i * 13 + i / 977);
      int wrote = 1;
      goro::WaitGroup wg;
      wg.add(1);
      auto start = goro::netpoll::Clock::now();
      goro::go([&, &a = a] {
        wrote = a.write_all(payload, goro::netpoll::kNoDeadline, kStall);
        wg.done();
      });
      std::string got;
      char buf[8192];
      while (got.size() < kTotal) {
        ssize_t n = b.read(buf, goro::netpoll::deadline_in(60s));
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
        goro::sleep_for(20ms);  // the pacing is the stimulus, not synchronization
      }
      wg.wait();
      CHECK(wrote == 0);
      CHECK(goro::netpoll::Clock::now() - start > 2 * kStall);
      CHECK(got == payload);

      // Now the reader stops: the write gives up after the stall limit,
      // never before it, and a whole-call deadline still applies.
      auto stop = goro::netpoll::Clock::now();
      CHECK(a.write_all(payload, goro::netpoll::kNoDeadline, 100ms) == -ETIMEDOUT);
      CHECK(goro::netpoll::Clock::now() - stop >= 100ms);
      stop = goro::netpoll::Clock::now();
      CHECK(a.write_all(payload, stop + 50ms, 10s) == -ETIMEDOUT);
      auto took = goro::netpoll::Clock::now() - stop;
      CHECK(took >= 50ms);
      CHECK(took < 10s);
    });
  }
}

TEST_CASE("a goroutine parked on I/O shows as IO wait in the dump") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = tcp_pair();
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&, &b = b] {
        char buf[4];
        b.read(buf, goro::netpoll::kNoDeadline);
        wg.done();
      });
      REQUIRE(goro::test::wait_for_parked(1, goro::WaitReason::io_wait, "the reader parked in IO wait"));
      CHECK(goro::dump_goroutines().find("[IO wait]") != std::string::npos);
      a.write_all("done", goro::netpoll::kNoDeadline);
      wg.wait();
    });
  }
}

TEST_CASE("an OS thread's data wakes a worker idle in its poller") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      auto [a, b] = tcp_pair();
      // Every worker has nothing to do and sleeps in its poller; only the
      // kernel's completion can wake the one the reader parked on.  The
      // writer waits until that is so.
      std::thread writer([&a = a] {
        goro::test::wait_until([] {
          return goro::test::count_parked(goro::WaitReason::io_wait) == 1 && goro::stats().idle == 2;
        }, "the reader parked and both workers asleep in their pollers");
        a.write_all("wake", goro::netpoll::kNoDeadline);
      });
      char buf[8];
      ssize_t n = b.read(buf, goro::netpoll::deadline_in(10s));
      writer.join();
      CHECK(n == 4);
    });
  }
}

TEST_CASE("a worker that never sleeps reaps completions with its zero-timeout polls") {
  // One P, and main never parks: the worker only ever polls with a zero
  // timeout (every 61st schedule), and a poll with nothing queued may skip
  // the syscall.  Data that arrives after the reader's wait went to the
  // kernel is then news only the kernel has (io_uring with DEFER_TASKRUN:
  // task work, flagged IORING_SQ_TASKRUN, until the ring is entered); such
  // a poll must not skip it.
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 1, [] {
      auto [a, b] = tcp_pair();
      std::atomic<ssize_t> got{-1};
      uint64_t before = goro::netpoll::poller_stats().submissions;
      goro::go([&got, &b = b] {
        char buf[8];
        got = b.read(buf, goro::netpoll::kNoDeadline);
      });
      std::thread writer([&a = a, before] {
        goro::test::thread_wait_until([&] {
          return goro::test::count_parked(goro::WaitReason::io_wait) == 1 &&
                 goro::netpoll::poller_stats().submissions > before;
        }, "the reader's wait submitted");
        a.write_all("data", goro::netpoll::kNoDeadline);
      });
      goro::test::poll_until([&] { return got.load() >= 0; }, [] { goro::yield(); }, "the reader's data");
      writer.join();
      CHECK(got.load() == 4);
    });
  }
}

namespace {

// Wraps a real backend and injects what a kernel may do: spurious
// readiness (the retried syscall then says EAGAIN again) and a wait that
// ends in ECANCELED.  Conn must loop on the first and surface the second.
class FaultyBackend final : public goro::netpoll::detail::Backend {
 public:
  explicit FaultyBackend(std::unique_ptr<goro::Poller> inner)
      : owned_(std::move(inner)), inner_(dynamic_cast<goro::netpoll::detail::Backend*>(owned_.get())) {}
  int poll(std::chrono::nanoseconds t) override { return inner_->poll(t); }
  void wake() override { inner_->wake(); }
  int wait_fd(int fd, short events, goro::netpoll::Deadline d) override {
    int n = ++waits;
    if (cancel_next.exchange(false)) return -ECANCELED;
    if (n % 3 == 0) {
      ++spurious;
      goro::yield();
      return 0;  // "ready", but it is not
    }
    return inner_->wait_fd(fd, events, d);
  }
  ssize_t pread(int fd, void* b, size_t n, uint64_t off) override { return inner_->pread(fd, b, n, off); }
  void wait_fd_async(goro::netpoll::detail::WaitRecord* w, short ev) override { inner_->wait_fd_async(w, ev); }

  static inline std::atomic<int> waits{0}, spurious{0};
  static inline std::atomic<bool> cancel_next{false};

 private:
  std::unique_ptr<goro::Poller> owned_;
  goro::netpoll::detail::Backend* inner_;
};

void run_faulty(PollerKind kind, std::function<void()> fn) {
  goro::Options o;
  o.procs = 2;
  o.poller = [kind](int) -> std::unique_ptr<goro::Poller> {
    std::string why;
    return std::make_unique<FaultyBackend>(goro::netpoll::make_poller(kind, &why));
  };
  goro::run(std::move(fn), std::move(o));
}

}  // namespace

TEST_CASE("spurious readiness and injected ECANCELED are handled") {
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    FaultyBackend::waits = 0;
    FaultyBackend::spurious = 0;
    run_faulty(kind, [] {
      auto [a, b] = tcp_pair();
      // A large transfer parks many times; every third wake is a lie.
      constexpr size_t kTotal = 8 << 20;
      std::string payload(kTotal, 'p');
      goro::WaitGroup wg;
      wg.add(1);
      int wrote = 1;
      goro::go([&, &a = a] {
        wrote = a.write_all(payload, goro::netpoll::deadline_in(60s));
        wg.done();
      });
      size_t got = 0;
      char buf[65536];
      while (got < kTotal) {
        ssize_t n = b.read(buf, goro::netpoll::deadline_in(60s));
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      wg.wait();
      CHECK(wrote == 0);
      CHECK(got == kTotal);

      // A deadline still holds when wakes are spurious: never early.
      auto start = goro::netpoll::Clock::now();
      CHECK(b.read(buf, start + 40ms) == -ETIMEDOUT);
      CHECK(goro::netpoll::Clock::now() - start >= 40ms);

      // An I/O wait cancelled under the connection surfaces as ECANCELED.
      FaultyBackend::cancel_next = true;
      CHECK(b.read(buf, goro::netpoll::deadline_in(5s)) == -ECANCELED);
    });
    CHECK(FaultyBackend::spurious > 0);
  }
}

TEST_CASE("hundreds of waits with mixed deadlines: each ends once, by I/O or never early by timeout") {
  // Which waits time out must not depend on how fast the machine is: odd
  // waits get near deadlines and never any data, so they can only time out;
  // even ones get far deadlines (60 s and up) and data, written only once
  // every wait is observed parked (or, for odd ones, already timed out), so
  // they can only end by I/O.  Both kinds share the deadline heap, in an
  // order unlike their index, so it removes from the middle as well as the
  // front.
  for (PollerKind kind : backends()) {
    CAPTURE(goro::netpoll::to_string(kind));
    run_on(kind, 2, [] {
      constexpr int kWaits = 300;
      std::vector<std::pair<Conn, Conn>> pairs;
      for (int i = 0; i < kWaits; ++i) pairs.push_back(tcp_pair());
      std::atomic<int> timed_out{0}, got_data{0}, early{0}, wrong{0}, ended{0};
      goro::WaitGroup wg;
      auto start = goro::netpoll::Clock::now();
      for (int i = 0; i < kWaits; ++i) {
        wg.add(1);
        auto spread = std::chrono::milliseconds((i * 7919) % 300);
        auto deadline = i % 2 ? start + 20ms + spread : start + 60s + spread;
        goro::go([&, i, deadline] {
          char buf[8];
          ssize_t n = pairs[i].second.read(buf, deadline);
          if (n == -ETIMEDOUT) {
            if (goro::netpoll::Clock::now() < deadline) ++early;
            if (i % 2 == 0) ++wrong;  // a far deadline cannot have passed: its data came
          } else if (n == 1 && i % 2 == 0) {
            ++got_data;
          } else {
            ++wrong;  // an odd one was never sent anything
          }
          if (n == -ETIMEDOUT) ++timed_out;
          ++ended;
          wg.done();
        });
      }
      // Every wait has parked or (odd ones) already timed out.  The count of
      // finished waits is read first: a wait counted there never parks again.
      goro::test::wait_until([&] {
        int finished = ended.load();
        return finished + goro::test::count_parked(goro::WaitReason::io_wait) >= kWaits;
      }, "all 300 waits parked in IO wait or timed out");
      for (int i = 0; i < kWaits; i += 2) REQUIRE(pairs[i].first.write_all("x", goro::netpoll::kNoDeadline) == 0);
      wg.wait();
      CHECK(got_data == kWaits / 2);
      CHECK(timed_out == kWaits / 2);
      CHECK(early == 0);
      CHECK(wrong == 0);
    });
  }
}
