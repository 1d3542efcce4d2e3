/// \file
/// goro/http/config.hpp — everything the command line can set: a Server's
/// execution model, limits and deadlines.  The goro binary fills one from its
/// flags (and GORO_<FLAG> environment variables); a program using the library
/// fills its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "goro/http/parser.hpp"
#include "goro/netpoll/poller_kind.hpp"

namespace goro::http {

/// The execution model: the same handlers run under each (`--mode`).
enum class Mode {
  goroutine,  ///< goroutines M:N over `--procs` workers: one per request being
              ///< served; an idle keep-alive connection is parked in the poller
  thread,     ///< one OS thread per connection, blocking syscalls
  pool,       ///< a fixed pool of threads and a queue of accepted connections
};

/// "goroutine", "thread" or "pool".
std::string_view to_string(Mode m);

/// A Server's settings; every field has a command-line flag of the same name
/// (`max_conns` is `--max-conns`).
struct Config {
  Mode mode = Mode::goroutine;  ///< the execution model
  /// Goroutine mode: worker threads (Ps); 0 = GOMAXPROCS or the CPU count.
  int procs = 0;
  /// Goroutine mode: the netpoll backend (io_uring, epoll, or whichever the
  /// kernel allows).
  netpoll::PollerKind poller = netpoll::PollerKind::automatic;
  /// Pool size.  64 lets a pool overlap 64 slow (/sleep) requests while
  /// staying far below the thread counts that make thread mode expensive.
  int threads = 64;
  std::string bind = "0.0.0.0";  ///< numeric IPv4 or IPv6 address to listen on
  int port = 8080;               ///< TCP port; 0 picks a free one (Server::port())
  /// Accept queue; the kernel caps it at net.core.somaxconn (4096 on Debian 12).
  int backlog = 4096;
  std::string root = "www";  ///< directory served under /static/ by the demo routes
  /// Connections served at once; one over gets 503.  Below `ulimit -n`.
  size_t max_conns = 10000;
  ParserLimits limits;  ///< header and body size limits (431, 413)
  /// Request line + headers, from accept (first request) or the request's
  /// first byte (later ones): one deadline, in every mode.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  /// The whole body, from the end of the headers: one deadline, so a client
  /// trickling bytes cannot hold a connection (or a thread) past it.
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  /// Keep-alive wait for the next request's first byte.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// Longest time a response write may make no progress (no byte taken by
  /// the kernel); a slow reader that keeps reading is never cut off.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  /// On shutdown(), time for in-flight requests before connections are
  /// closed by force.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
  std::string access_log;  ///< path, "-" for stdout, "" for none
};

}  // namespace goro::http
