// goro::pg against a real PostgreSQL (the `db` CTest fixture: scripts/db
// start, its conninfo in $GORO_TEST_DB_CONNINFO_FILE).  Every case runs on
// an OS thread (thread and pool modes: waits block in poll) and in
// goroutines on the backend $GORO_TEST_POLLER names (CTest runs one entry
// per backend): the same code, parked on the netpoller.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "goro/netpoll/poller.hpp"
#include "goro/pg/pool.hpp"
#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro_wait.hpp"
#include "skip.hpp"

namespace {

using namespace std::chrono_literals;
using goro::netpoll::deadline_in;
using goro::netpoll::PollerKind;
using goro::pg::Conn;
using goro::pg::Errc;
using goro::pg::Pool;
using goro::pg::Result;
using goro::pg::Status;

const std::string& conninfo() {
  static const std::string c = [] {
    const char* file = std::getenv("GORO_TEST_DB_CONNINFO_FILE");
    if (!file) goro::test::skip_process("GORO_TEST_DB_CONNINFO_FILE not set (run through ctest: the db fixture)");
    std::ifstream in(file);
    std::string line;
    if (!std::getline(in, line) || line.empty())
      goro::test::skip_process(std::string("no database: ") + file + " is missing (scripts/db start failed?)");
    return line;
  }();
  return c;
}

// Runs fn on this OS thread, then in a goroutine on $GORO_TEST_POLLER's
// backend (2 Ps).
void everywhere(const std::function<void()>& fn) {
  SUBCASE("OS thread") { fn(); }
  SUBCASE("goroutine") {
    const char* want = std::getenv("GORO_TEST_POLLER");
    PollerKind kind = want && std::string(want) == "uring" ? PollerKind::uring : PollerKind::epoll;
    if (kind == PollerKind::uring) {
      auto choice = goro::netpoll::choose_poller(PollerKind::automatic);
      if (choice.kind != PollerKind::uring) goro::test::skip_process("io_uring unavailable: " + choice.detail);
    }
    goro::Options o;
    o.procs = 2;
    o.poller = goro::netpoll::poller_factory(kind);
    goro::run(fn, std::move(o));
  }
}

Status prepare(Conn& c, goro::pg::Deadline d) {
  if (Status st = c.prepare("world", "SELECT id, randomnumber FROM world WHERE id = $1", d); !st.ok()) return st;
  if (Status st = c.prepare("sleep", "SELECT pg_sleep($1::float8)", d); !st.ok()) return st;
  return c.prepare("activity", "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND state = 'active'", d);
}

std::unique_ptr<Conn> open_prepared() {
  std::unique_ptr<Conn> c;
  Status st = Conn::open(conninfo(), deadline_in(10s), c);
  REQUIRE_MESSAGE(st.ok(), st.message);
  st = prepare(*c, deadline_in(10s));
  REQUIRE_MESSAGE(st.ok(), st.message);
  return c;
}

long long world_number(Conn& c, int id) {
  std::string s = std::to_string(id);
  const char* p = s.c_str();
  Result r;
  Status st = c.exec("world", {&p, 1}, deadline_in(10s), r);
  REQUIRE_MESSAGE(st.ok(), st.message);
  REQUIRE(r.rows() == 1);
  long long got = -1, n = -1;
  REQUIRE(r.integer(0, 0, got));
  CHECK(got == id);
  REQUIRE(r.integer(0, 1, n));
  return n;
}

// Runs fn concurrently: a goroutine in a goroutine, else an OS thread; the
// destructor waits for it.  The goroutine reports over a channel it holds a
// copy of, so nothing it touches after reporting can be freed under it (a
// WaitGroup's last done() may still be inside the WaitGroup when wait()
// returns and the WaitGroup's owner frees it; TSan caught that here).
class Concurrently {
 public:
  explicit Concurrently(std::function<void()> fn) {
    if (goro::in_goroutine()) {
      goro::go([done = done_, fn] {
        fn();
        done.send(1);
      });
    } else {
      t_ = std::thread(fn);
    }
  }
  ~Concurrently() {
    if (t_.joinable()) {
      t_.join();
    } else {
      done_.recv();
    }
  }

 private:
  goro::Chan<int> done_{1};
  std::thread t_;
};

}  // namespace

TEST_CASE("a prepared statement, and several in one pipeline, return the rows asked for") {
  everywhere([] {
    auto c = open_prepared();
    long long n = world_number(*c, 42);
    CHECK(n >= 1);
    CHECK(n <= 10000);

    std::vector<std::string> ids{"1", "10000", "42", "1"};
    std::vector<const char*> p;
    for (auto& s : ids) p.push_back(s.c_str());
    std::vector<goro::pg::Query> qs;
    for (auto& s : p) qs.push_back({"world", {&s, 1}});
    std::vector<Result> out;
    Status st = c->exec_pipeline(qs, deadline_in(10s), out);
    REQUIRE_MESSAGE(st.ok(), st.message);
    REQUIRE(out.size() == 4);
    for (size_t i = 0; i < out.size(); ++i) {
      long long id = 0;
      REQUIRE(out[i].rows() == 1);
      REQUIRE(out[i].integer(0, 0, id));
      CHECK(std::to_string(id) == ids[i]);
    }
    long long n42 = 0;
    CHECK(out[2].integer(0, 1, n42));
    CHECK(n42 == n);
    CHECK(c->healthy());
  });
}

TEST_CASE("a statement the server refuses is a query error; the connection stays usable") {
  everywhere([] {
    auto c = open_prepared();
    const char* p = "not a number";
    Result r;
    Status st = c->exec("world", {&p, 1}, deadline_in(10s), r);
    CHECK(st.code == Errc::query);
    CHECK(st.message.find("integer") != std::string::npos);
    CHECK(c->healthy());
    // In a pipeline, the failing query stops the rest; the first error is told.
    const char* good = "7";
    std::vector<goro::pg::Query> qs{{"world", {&good, 1}}, {"world", {&p, 1}}, {"world", {&good, 1}}};
    std::vector<Result> out;
    st = c->exec_pipeline(qs, deadline_in(10s), out);
    CHECK(st.code == Errc::query);
    CHECK(out[0].rows() == 1);
    CHECK(out[2].rows() == 0);
    CHECK(world_number(*c, 7) >= 1);
  });
}

TEST_CASE("nothing listening: open reports unavailable, at once") {
  everywhere([] {
    std::unique_ptr<Conn> c;
    // Port 1 on loopback: refused.
    Status st = Conn::open("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=5", deadline_in(10s), c);
    CHECK(st.code == Errc::unavailable);
    CHECK(st.message.find("refused") != std::string::npos);
    CHECK(st.message.find('\n') == std::string::npos);
    CHECK(c == nullptr);
  });
}

TEST_CASE("a statement past its deadline: timeout, the connection is given up, the server cancels it") {
  everywhere([] {
    auto c = open_prepared();
    auto watcher = open_prepared();
    const char* secs = "120";
    Result r;
    auto t0 = std::chrono::steady_clock::now();
    Status st = c->exec("sleep", {&secs, 1}, deadline_in(200ms), r);
    CHECK(st.code == Errc::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);  // not the 120 s of the statement
    CHECK_FALSE(c->healthy());
    // The cancel request reaches the server: its backend stops running the
    // statement (without it, pg_sleep would run for 120 s).
    std::string pid = std::to_string(c->backend_pid());
    const char* p = pid.c_str();
    goro::test::wait_until(
        [&] {
          Result a;
          Status s = watcher->exec("activity", {&p, 1}, deadline_in(10s), a);
          return s.ok() && a.text(0, 0) == "0";
        },
        "the timed-out statement to be cancelled on the server");
  });
}

TEST_CASE("the pool: many more requests than connections all succeed, waiting parked") {
  everywhere([] {
    constexpr int kSize = 3, kRequests = 200;
    Pool pool({.conninfo = conninfo(), .size = kSize, .setup = prepare});
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    auto one = [&] {
      Status st = pool.run(deadline_in(30s), [&](Conn& c) {
        world_number(c, 1 + ok.load() % 10000);
        return Status{};
      });
      (st.ok() ? ok : failed)++;
    };
    {
      // Holders take every connection until a request is seen waiting, so
      // the requests queue for certain (under TSan they could otherwise run
      // one after another and never wait).
      std::atomic<int> held{0};
      std::atomic<bool> release{false};
      std::vector<std::unique_ptr<Concurrently>> all;
      for (int i = 0; i < kSize; ++i)
        all.push_back(std::make_unique<Concurrently>([&] {
          Status st = pool.run(deadline_in(30s), [&](Conn&) {
            held++;
            goro::test::wait_until([&] { return release.load(); }, "the holders released");
            return Status{};
          });
          CHECK(st.ok());
        }));
      goro::test::wait_until([&] { return held.load() == kSize; }, "every connection held");
      // A goroutine per request; on OS threads 20 threads of 10 each.
      const int workers = goro::in_goroutine() ? kRequests : 20;
      for (int i = 0; i < workers; ++i)
        all.push_back(std::make_unique<Concurrently>([&] {
          for (int j = 0; j < kRequests / workers; ++j) one();
        }));
      goro::test::wait_until([&] { return pool.stats().waiting > 0; }, "a request waiting for a connection");
      release = true;
    }
    CHECK(ok == kRequests);
    CHECK(failed == 0);
    Pool::Stats s = pool.stats();
    CHECK(s.open <= kSize);
    CHECK(s.connects <= kSize);
    CHECK(s.waits > 0);  // the point: they queued for the 3 connections
    CHECK(s.waiting == 0);
  });
}

TEST_CASE("the pool: a waiter past its deadline is told busy when a connection comes back") {
  everywhere([] {
    Pool pool({.conninfo = conninfo(), .size = 1, .setup = prepare});
    Pool::Lease held;
    REQUIRE(pool.acquire(deadline_in(10s), held).ok());
    // Already expired: told at once, no wait.
    Pool::Lease late;
    CHECK(pool.acquire(deadline_in(0s), late).code == Errc::busy);
    CHECK(pool.stats().waiting == 0);

    auto d = deadline_in(50ms);
    Status got;
    {
      Concurrently waiter([&] {
        Pool::Lease l;
        got = pool.acquire(d, l);
      });
      goro::test::wait_until([&] { return pool.stats().waiting == 1; }, "the waiter to queue");
      goro::test::wait_until([&] { return std::chrono::steady_clock::now() > d; }, "its deadline to pass");
      held.release();  // the waiter hears now
    }
    CHECK(got.code == Errc::busy);
    Pool::Stats s = pool.stats();
    CHECK(s.waiting == 0);
    CHECK(s.idle == 1);  // the connection went back, not to the expired waiter
  });
}

TEST_CASE("the pool: a waiter in time gets the connection that comes back") {
  everywhere([] {
    Pool pool({.conninfo = conninfo(), .size = 1, .setup = prepare});
    Pool::Lease held;
    REQUIRE(pool.acquire(deadline_in(10s), held).ok());
    const Conn* lent = &*held;
    const Conn* got = nullptr;
    {
      Concurrently waiter([&] {
        Pool::Lease l;
        if (pool.acquire(deadline_in(30s), l).ok()) got = &*l;
      });
      goro::test::wait_until([&] { return pool.stats().waiting == 1; }, "the waiter to queue");
      held.release();
    }
    CHECK(got == lent);
    CHECK(pool.stats().connects == 1);
  });
}

TEST_CASE("the pool: a connection the server killed is discarded; run() goes on with a new one") {
  everywhere([] {
    Pool pool({.conninfo = conninfo(), .size = 2, .setup = prepare});
    int pid = 0;
    Status st = pool.run(deadline_in(10s), [&](Conn& c) {
      pid = c.backend_pid();
      return Status{};
    });
    REQUIRE(st.ok());
    REQUIRE(pool.stats().idle == 1);
    // Kill that backend from outside, as a database restart would.
    {
      PGconn* raw = PQconnectdb(conninfo().c_str());
      REQUIRE(PQstatus(raw) == CONNECTION_OK);
      std::string sql = "SELECT pg_terminate_backend(" + std::to_string(pid) + ")";
      PQclear(PQexec(raw, sql.c_str()));
      PQfinish(raw);
    }
    int second_pid = 0;
    st = pool.run(deadline_in(10s), [&](Conn& c) {
      second_pid = c.backend_pid();
      const char* p = "5";
      Result r;
      return c.exec("world", {&p, 1}, deadline_in(10s), r);  // fails on the dead one: run() retries
    });
    CHECK_MESSAGE(st.ok(), st.message);
    CHECK(second_pid != pid);
    CHECK(pool.stats().discarded == 1);
  });
}
