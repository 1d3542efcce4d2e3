/// \file
/// One PostgreSQL connection (libpq) whose waits are
/// goro's: a goroutine parks on the netpoller while its query is in flight,
/// an OS thread (thread and pool modes) blocks in poll(2).  The same code
/// either way, like every goro primitive.
///
/// \code{.cpp}
///   std::unique_ptr<goro::pg::Conn> c;
///   auto d = goro::netpoll::deadline_in(2s);
///   if (auto st = goro::pg::Conn::open("host=/run/db dbname=x", d, c); !st.ok()) fail(st);
///   c->prepare("one", "SELECT randomnumber FROM world WHERE id = $1", d);
///   const char* id = "42";
///   goro::pg::Result r;
///   if (auto st = c->exec("one", {&id, 1}, d, r); st.ok()) use(r.text(0, 0));
/// \endcode
///
/// How: libpq in non-blocking mode.  goro sends with PQsendQueryPrepared and
/// PQflush, and reads with PQconsumeInput until PQisBusy says a result is
/// whole; whenever libpq would block, it waits on PQsocket() through
/// goro::netpoll::wait_fd with the caller's deadline.  Several statements go
/// in one round trip with libpq's pipeline mode (exec_pipeline).
///
/// Errors are values (Status), never exceptions:
/// - `unavailable` — could not connect, or the connection broke (server down,
///   restarted, network): the connection is no longer healthy;
/// - `timeout` — the deadline passed first: the connection is no longer
///   healthy, and a cancel request for the statement in flight
///   (as psql's Ctrl-C) goes out from a thread of its own, so
///   the caller is answered at its deadline even when the
///   database hangs;
/// - `query` — the server refused the statement (SQL error); the
///   connection stays healthy;
/// - `busy` — (Pool) no connection became free before the deadline.
///
/// A connection that is not healthy() must be closed, not reused: its
/// protocol state is unknown.  Pool::Lease does that.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "goro/netpoll/deadline.hpp"

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

/// PostgreSQL through libpq, waiting on goro's netpoller (library goro::pg):
/// a connection (Conn) and a fixed-size pool of them (Pool).
namespace goro::pg {

using netpoll::Deadline;

/// What went wrong, if anything: see conn.hpp for what each means for the
/// connection (`ok`, `unavailable`, `timeout`, `query`, `busy`).
enum class Errc { ok, unavailable, timeout, query, busy };
/// The code's name: "ok", "unavailable", ...
const char* to_string(Errc e) noexcept;

/// The outcome of a database call: errors are values, never exceptions.
struct Status {
  Errc code = Errc::ok;  ///< Errc::ok, or what failed
  std::string message;  ///< for people: libpq's or the server's words
  /// True when code is Errc::ok.
  bool ok() const { return code == Errc::ok; }
};

/// One statement's rows, in text format.  Owns its PGresult.
class Result {
 public:
  /// No rows (rows() == 0).
  Result() = default;
  /// Takes ownership of a libpq result (PQclear on destruction).
  explicit Result(pg_result* r) noexcept : r_(r) {}
  /// Takes o's rows; o is left empty.
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  /// Frees this result, then takes o's.
  Result& operator=(Result&& o) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  /// Rows in the result; 0 when empty.
  int rows() const noexcept;
  /// Columns in the result; 0 when empty.
  int cols() const noexcept;
  /// The value at (row, col) as PostgreSQL's text; empty for NULL.
  std::string_view text(int row, int col) const noexcept;
  /// True if the value at (row, col) is NULL.
  bool is_null(int row, int col) const noexcept;
  /// The value parsed as a decimal integer; false if NULL or not one.
  bool integer(int row, int col, long long& out) const noexcept;

 private:
  pg_result* r_ = nullptr;
};

/// One execution of a prepared statement with text parameters.
struct Query {
  const char* statement;                 ///< name given to prepare()
  std::span<const char* const> params;   ///< NUL-terminated texts; nullptr = NULL
};

/// One PostgreSQL connection whose waits park a goroutine or block a thread
/// (see conn.hpp).  Used by one goroutine or thread at a time.
class Conn {
 public:
  /// Opens a connection described by a libpq conninfo (`host=/run/db dbname=x`,
  /// or a postgresql:// URI; empty = libpq's environment, PGHOST etc.).
  static Status open(const std::string& conninfo, Deadline d, std::unique_ptr<Conn>& out);

  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  /// Closes the connection (PQfinish).
  ~Conn();

  /// Prepares `sql` under `name` for this connection.
  Status prepare(const char* name, const char* sql, Deadline d);
  /// Runs one prepared statement and waits for its result.
  Status exec(const char* statement, std::span<const char* const> params, Deadline d, Result& out);
  /// Runs every query in one round trip (libpq pipeline mode, one Sync):
  /// out[i] is queries[i]'s result.  They run in one implicit transaction:
  /// if one fails, the server skips the rest (their results stay empty),
  /// what ran before it is rolled back, and the first error is returned.
  Status exec_pipeline(std::span<const Query> queries, Deadline d, std::vector<Result>& out);

  /// False once the connection broke or a deadline interrupted it.
  bool healthy() const noexcept { return healthy_; }
  /// The server process serving this connection (pg_stat_activity.pid).
  int backend_pid() const noexcept;

 private:
  explicit Conn(pg_conn* pg) noexcept : pg_(pg) {}

  Status send_prepared(const Query& q);
  Status flush(Deadline d);
  // Waits until PQgetResult would not block.
  Status await_result(Deadline d);
  // Reads results to the end of the command; the last successful one goes
  // to *out (when given), the first error is returned, prefixed by `doing`.
  Status drain(Deadline d, const char* doing, Result* out);
  // Marks the connection broken and says why (unavailable), or, at the
  // deadline, cancels the statement in flight (timeout).
  Status fail(int wait_result, const char* doing);
  Status broken(const char* doing);

  pg_conn* pg_;
  bool healthy_ = true;
};

}  // namespace goro::pg
