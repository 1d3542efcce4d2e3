// goro::pg::Conn: libpq driven in non-blocking mode, every wait a
// goro::netpoll::wait_fd on PQsocket() (see conn.hpp for the contract).
#include "goro/pg/conn.hpp"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "goro/netpoll/fd.hpp"
#include "goro/runtime.hpp"

namespace goro::pg {

const char* to_string(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::unavailable: return "unavailable";
    case Errc::timeout: return "timeout";
    case Errc::query: return "query";
    case Errc::busy: return "busy";
  }
  return "?";
}

namespace {

Status error(Errc code, std::string_view message) {
  // libpq's messages span lines ("...failed: ...\n\tIs the server
  // running...?\n"); a status is one line, for a log or an error page.
  std::string one;
  bool gap = false;
  for (char c : message) {
    if (c == '\n' || c == '\t' || c == ' ') {
      gap = true;
      continue;
    }
    if (gap && !one.empty()) one += ' ';
    gap = false;
    one += c;
  }
  return {code, std::move(one)};
}

// Cancel requests go out from one thread of their own, never from the
// request's path: PQcancel opens a connection and then blocks until the
// server closes it, with no timeout — against a database that hangs (the
// very case where deadlines pass) it may never return.  So a request hands
// its PGcancel over and answers at its deadline, in every mode; the queue is
// bounded and a request that finds it full drops its cancel (the connection
// is closed anyway, and the server notices when it next writes to it).  The
// thread is detached: a process that exits does not wait for a stuck cancel.
class Canceller {
 public:
  static constexpr size_t kMaxQueued = 64;

  static Canceller& get() {
    static Canceller* c = new Canceller;  // never destroyed: the thread may outlive main
    return *c;
  }

  void submit(PGcancel* cancel) {
    {
      std::lock_guard l(mu_);
      if (queue_.size() < kMaxQueued) {
        queue_.push_back(cancel);
        cancel = nullptr;
      }
    }
    if (cancel) {
      PQfreeCancel(cancel);
    } else {
      cv_.notify_one();
    }
  }

 private:
  Canceller() {
    std::thread([this] {
      pthread_setname_np(pthread_self(), "goro-pg-cancel");
      for (;;) {
        PGcancel* c;
        {
          std::unique_lock l(mu_);
          cv_.wait(l, [&] { return !queue_.empty(); });
          c = queue_.front();
          queue_.pop_front();
        }
        char why[256];
        PQcancel(c, why, sizeof why);
        PQfreeCancel(c);
      }
    }).detach();
  }

  std::mutex mu_;  // held only to push or pop
  std::condition_variable cv_;
  std::deque<PGcancel*> queue_;
};

// Whether connecting as `conninfo` says may look a host name up (a blocking
// getaddrinfo inside libpq): not when every host is a socket directory
// ("/..."), an abstract socket ("@...") or a numeric address, or hostaddr is
// given.  A service file may name anything: assume a lookup.
bool may_resolve(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    PQfreemem(err);
    return true;  // PQconnectStart will say what is wrong
  }
  std::string host, hostaddr;
  bool service = std::getenv("PGSERVICE") != nullptr;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
    if (std::strcmp(o->keyword, "service") == 0) service = true;
  }
  PQconninfoFree(opts);
  if (service) return true;
  if (!hostaddr.empty()) return false;
  if (host.empty())
    if (const char* env = std::getenv("PGHOST")) host = env;
  std::string_view rest = host;
  while (!rest.empty()) {
    std::string one(rest.substr(0, rest.find(',')));
    rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    unsigned char addr[sizeof(in6_addr)];
    if (one.empty() || one[0] == '/' || one[0] == '@' || ::inet_pton(AF_INET, one.c_str(), addr) == 1 ||
        ::inet_pton(AF_INET6, one.c_str(), addr) == 1)
      continue;
    return true;
  }
  return false;
}

}  // namespace

// ---- Result ----------------------------------------------------------------

Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

Result::~Result() { PQclear(r_); }

int Result::rows() const noexcept { return r_ ? PQntuples(r_) : 0; }
int Result::cols() const noexcept { return r_ ? PQnfields(r_) : 0; }

std::string_view Result::text(int row, int col) const noexcept {
  if (!r_ || row >= rows() || col >= cols()) return {};
  return {PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col))};
}

bool Result::is_null(int row, int col) const noexcept {
  return !r_ || row >= rows() || col >= cols() || PQgetisnull(r_, row, col);
}

bool Result::integer(int row, int col, long long& out) const noexcept {
  if (is_null(row, col)) return false;
  std::string_view s = text(row, col);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// ---- Conn ------------------------------------------------------------------

Status Conn::open(const std::string& conninfo, Deadline d, std::unique_ptr<Conn>& out) {
  // PQconnectStart may resolve a host name (a blocking getaddrinfo), and so
  // may PQconnectPoll when it moves on to the next host.  When a name may be
  // looked up, both run on a blocking() helper thread, so a goroutine's
  // worker never stalls on DNS; for a socket path or a numeric address they
  // only make a non-blocking socket and run here (a hand-off per call would
  // start helper threads for nothing when a pool opens its connections).
  const bool lookup = may_resolve(conninfo);
  auto call = [lookup](auto fn) { return lookup ? goro::blocking(fn) : fn(); };
  PGconn* pg = call([&] { return PQconnectStart(conninfo.c_str()); });
  if (!pg) return error(Errc::unavailable, "out of memory starting a connection");
  std::unique_ptr<Conn> c(new Conn(pg));
  if (PQstatus(pg) == CONNECTION_BAD) return error(Errc::unavailable, PQerrorMessage(pg));
  // Per libpq's protocol: start as if PQconnectPoll had said "writing".
  PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
  while (ps != PGRES_POLLING_OK) {
    if (ps == PGRES_POLLING_FAILED) return error(Errc::unavailable, PQerrorMessage(pg));
    int r = netpoll::wait_fd(PQsocket(pg), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, d);
    if (r == -ETIMEDOUT) return error(Errc::timeout, "connecting: deadline passed");
    if (r < 0) return error(Errc::unavailable, std::string("connecting: ") + std::strerror(-r));
    ps = call([&] { return PQconnectPoll(pg); });
  }
  if (PQsetnonblocking(pg, 1) != 0) return error(Errc::unavailable, PQerrorMessage(pg));
  out = std::move(c);
  return {};
}

Conn::~Conn() { PQfinish(pg_); }

int Conn::backend_pid() const noexcept { return PQbackendPID(pg_); }

Status Conn::broken(const char* doing) {
  healthy_ = false;
  return error(Errc::unavailable, std::string(doing) + ": " + PQerrorMessage(pg_));
}

Status Conn::fail(int wait_result, const char* doing) {
  healthy_ = false;
  if (wait_result != -ETIMEDOUT)
    return error(Errc::unavailable, std::string(doing) + ": " + std::strerror(-wait_result));
  // The statement may still be running on the server, holding locks and a
  // backend: ask the server to cancel it, as psql's Ctrl-C does.  The
  // connection itself is then discarded — draining what is left of its
  // protocol state would mean waiting again.
  if (PGcancel* cancel = PQgetCancel(pg_)) Canceller::get().submit(cancel);
  return error(Errc::timeout, std::string(doing) + ": deadline passed (statement cancelled)");
}

Status Conn::flush(Deadline d) {
  // PQflush: 0 = all sent, 1 = the socket is full, -1 = broken.  While
  // waiting to write, the server may be writing to us (results, notices):
  // read then too, or both sides could wait on full buffers (libpq's docs).
  for (;;) {
    int f = PQflush(pg_);
    if (f == 0) return {};
    if (f < 0) return broken("sending");
    if (int r = netpoll::wait_fd(PQsocket(pg_), POLLOUT | POLLIN, d); r < 0) return fail(r, "sending");
    if (!PQconsumeInput(pg_)) return broken("sending");
  }
}

Status Conn::await_result(Deadline d) {
  while (PQisBusy(pg_)) {
    if (int r = netpoll::wait_fd(PQsocket(pg_), POLLIN, d); r < 0) return fail(r, "waiting for the result");
    if (!PQconsumeInput(pg_)) return broken("reading");
  }
  return {};
}

Status Conn::send_prepared(const Query& q) {
  if (!PQsendQueryPrepared(pg_, q.statement, static_cast<int>(q.params.size()), q.params.data(), nullptr,
                           nullptr, 0))
    return broken("sending");
  return {};
}

Status Conn::drain(Deadline d, const char* doing, Result* out) {
  // Every result up to the end (NULL), even after an error, so that the
  // connection is ready for the next command.
  Status st;
  for (;;) {
    if (Status w = await_result(d); !w.ok()) return w;
    PGresult* r = PQgetResult(pg_);
    if (!r) return st;
    ExecStatusType s = PQresultStatus(r);
    if (out && (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)) {
      *out = Result(r);
      continue;
    }
    if (s != PGRES_COMMAND_OK && st.ok()) st = error(Errc::query, doing + std::string(PQresultErrorMessage(r)));
    PQclear(r);
  }
}

Status Conn::prepare(const char* name, const char* sql, Deadline d) {
  if (!PQsendPrepare(pg_, name, sql, 0, nullptr)) return broken("preparing");
  if (Status st = flush(d); !st.ok()) return st;
  return drain(d, (std::string("preparing ") + name + ": ").c_str(), nullptr);
}

Status Conn::exec(const char* statement, std::span<const char* const> params, Deadline d, Result& out) {
  if (Status st = send_prepared({statement, params}); !st.ok()) return st;
  if (Status st = flush(d); !st.ok()) return st;
  Status st = drain(d, "", &out);
  if (PQstatus(pg_) == CONNECTION_BAD) return broken("reading");
  return st;
}

Status Conn::exec_pipeline(std::span<const Query> queries, Deadline d, std::vector<Result>& out) {
  out.clear();
  out.resize(queries.size());
  // One statement needs no pipeline (and its Sync and mode switches).
  if (queries.size() == 1) return exec(queries[0].statement, queries[0].params, d, out[0]);
  if (!PQenterPipelineMode(pg_)) return broken("entering pipeline mode");
  for (const Query& q : queries)
    if (Status st = send_prepared(q); !st.ok()) return st;
  if (!PQpipelineSync(pg_)) return broken("sending");
  if (Status st = flush(d); !st.ok()) return st;
  // Results arrive in order: each query's result(s), then a NULL that ends
  // that query, and finally PGRES_PIPELINE_SYNC.  After an error the server
  // skips to the Sync, and libpq reports the skipped queries as
  // PGRES_PIPELINE_ABORTED.
  Status st;
  size_t i = 0;
  for (;;) {
    if (Status w = await_result(d); !w.ok()) return w;
    PGresult* r = PQgetResult(pg_);
    if (!r) {
      // A lost connection (libpq closes it itself, e.g. on a message it
      // cannot parse) makes PQgetResult return NULL for ever and PQisBusy
      // false: without this check the loop would spin here, never waiting,
      // so its deadline could not stop it.
      if (PQstatus(pg_) == CONNECTION_BAD || ++i > queries.size()) return broken("reading");
      continue;
    }
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if ((s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) && i < out.size()) {
      out[i] = Result(r);
      continue;
    }
    if (s != PGRES_PIPELINE_ABORTED && st.ok()) st = error(Errc::query, PQresultErrorMessage(r));
    PQclear(r);
  }
  if (!PQexitPipelineMode(pg_)) return broken("leaving pipeline mode");
  return st;
}

}  // namespace goro::pg
