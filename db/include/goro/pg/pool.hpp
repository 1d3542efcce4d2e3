/// \file
/// A fixed number of PostgreSQL connections shared by
/// every request.  A request that finds them all busy waits — parked in a
/// goroutine, blocked on an OS thread, never spinning, never failing at once
/// — until one is returned or its deadline passes.
///
/// \code{.cpp}
///   goro::pg::Pool pool({.conninfo = "host=/run/db dbname=x", .size = 16, .setup = prepare_all});
///   goro::pg::Pool::Lease c;
///   if (auto st = pool.acquire(deadline, c); !st.ok()) return answer(st);
///   c->exec("one", params, deadline, result);
///   // c goes back to the pool when it leaves scope; a connection that broke
///   // or hit a deadline (!healthy()) is closed instead, and its slot is
///   // free for a new one.
/// \endcode
///
/// Connections open lazily, on demand, up to `size`; each new one runs
/// `setup` (prepare statements) before its first use.  When the database is
/// down, acquire() tries to connect and reports unavailable: nothing is
/// retried in a loop, and the pool recovers by itself when the database is
/// back (the next acquire opens a connection).
///
/// Deadlines: a waiter is handed a connection in FIFO order; one whose
/// deadline has passed is woken with `busy` when the next connection comes
/// back (or is closed).  Holders give their connection back by their own
/// deadline (every wait in Conn is bounded by it; a cancel goes out from a
/// thread of its own), and a holder's request started no later than the
/// waiter's, so with every user of the pool following that rule a waiter
/// hears no later than its deadline plus the time a holder takes to notice
/// its own.  The exception is a host name lookup while connecting (see
/// Conn::open): the resolver's own timeouts bound it, not the deadline.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "goro/detail/wait.hpp"
#include "goro/pg/conn.hpp"

namespace goro::pg {

/// A fixed number of PostgreSQL connections shared by every request; a
/// request that finds them all busy waits (see pool.hpp).
class Pool {
 public:
  /// What the pool connects to and how many connections it keeps.
  struct Options {
    std::string conninfo;  ///< libpq conninfo; empty = libpq's environment
    int size = 16;         ///< connections at most
    /// Runs once on every new connection (Conn::prepare, say); a failure
    /// closes the connection and fails the acquire().
    std::function<Status(Conn&, Deadline)> setup;
  };

  /// A connection on loan: returned (or closed if !healthy()) when the Lease
  /// is destroyed or release()d.
  class Lease {
   public:
    /// Holds no connection.
    Lease() = default;
    /// Takes o's connection; o holds none.
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)), reused_(o.reused_) { o.pool_ = nullptr; }
    /// Returns this lease's connection, then takes o's.
    Lease& operator=(Lease&& o) noexcept;
    ~Lease() { release(); }
    /// The leased connection.
    Conn* operator->() const noexcept { return conn_.get(); }
    /// The leased connection.
    Conn& operator*() const noexcept { return *conn_; }
    /// True while the lease holds a connection.
    explicit operator bool() const noexcept { return conn_ != nullptr; }
    /// True if the connection served an earlier lease (it may have broken
    /// while it sat idle: the database restarted, say).
    bool reused() const noexcept { return reused_; }
    /// Gives the connection back now (closes it if !healthy()); idempotent.
    void release() noexcept;

   private:
    friend class Pool;
    Pool* pool_ = nullptr;
    std::unique_ptr<Conn> conn_;
    bool reused_ = false;
  };

  /// The pool's counters (stats()), for /debug/db.
  struct Stats {
    int size = 0;     ///< Options::size
    int open = 0;     ///< connections counted against size: idle, leased or opening
    int idle = 0;     ///< open connections waiting in the pool
    int waiting = 0;  ///< requests waiting for a connection now
    /// @{
    /// acquire() calls; those that had to wait; busy: waits that hit the deadline.
    std::uint64_t acquires = 0, waits = 0, busy = 0;        // busy: waits that hit the deadline
    /// @}
    /// @{
    /// Connections opened; attempts that failed (connect or setup);
    /// connections closed on return because they were not healthy().
    std::uint64_t connects = 0, connect_failures = 0, discarded = 0;
    /// @}
  };

  /// Makes an empty pool; connections open on demand (acquire()).
  explicit Pool(Options opts);
  /// Every Lease must be gone first.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Leases a connection: an idle one, a new one while fewer than
  /// Options::size are open, else the first to come back (FIFO).  Errc::busy
  /// when none came by `d`, Errc::unavailable (or setup's error) when a new
  /// connection failed.
  Status acquire(Deadline d, Lease& out);

  /// Runs fn(conn) on a leased connection.  If the connection had been idle
  /// in the pool and turns out broken (unavailable: the database restarted
  /// since), fn runs again on another connection — so a restart costs no
  /// request an error, only the requests that were in flight during it.
  /// fn must be safe to run twice: a connection that breaks after the server
  /// committed fn's statement but before its answer arrived looks the same.
  Status run(Deadline d, const std::function<Status(Conn&)>& fn);

  /// The counters now.
  Stats stats() const;
  /// The options the pool was made with.
  const Options& options() const noexcept { return opts_; }

 private:
  struct Waiter;
  Status open_one(Deadline d, Lease& out);
  void put(std::unique_ptr<Conn> c) noexcept;

  const Options opts_;
  mutable detail::SpinLock lock_;
  // Guarded by lock_:
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;
  Waiter* head_ = nullptr;  // FIFO of waiters, on their own stacks
  Waiter* tail_ = nullptr;
  int waiting_ = 0;
  Stats counts_;
};

}  // namespace goro::pg
