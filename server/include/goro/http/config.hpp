// goro/http/config.hpp — everything the command line can set.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "goro/http/parser.hpp"
#include "goro/netpoll/poller_kind.hpp"

namespace goro::http {

enum class Mode {
  goroutine,  // goroutines M:N over --procs workers: one per request being
              // served; an idle keep-alive connection is parked in the poller
  thread,     // one OS thread per connection, blocking syscalls
  pool,       // a fixed pool of threads and a queue of accepted connections
};

std::string_view to_string(Mode m);

struct Config {
  Mode mode = Mode::goroutine;
  // Goroutine mode: worker threads (Ps); 0 = GOMAXPROCS or the CPU count.
  int procs = 0;
  netpoll::PollerKind poller = netpoll::PollerKind::automatic;
  // Pool size.  64 lets a pool overlap 64 slow (/sleep) requests while
  // staying far below the thread counts that make thread mode expensive.
  int threads = 64;
  std::string bind = "0.0.0.0";
  int port = 8080;
  // Accept queue; the kernel caps it at net.core.somaxconn (4096 on Debian 12).
  int backlog = 4096;
  std::string root = "www";
  // Connections served at once; one over gets 503.  Below `ulimit -n`.
  size_t max_conns = 10000;
  ParserLimits limits;
  // Request line + headers, from accept (first request) or the request's
  // first byte (later ones): one deadline, in every mode.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // The whole body, from the end of the headers: one deadline, so a client
  // trickling bytes cannot hold a connection (or a thread) past it.
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  // Keep-alive wait for the next request's first byte.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Longest time a response write may make no progress (no byte taken by
  // the kernel); a slow reader that keeps reading is never cut off.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
  std::string access_log;  // path, "-" for stdout, "" for none
};

}  // namespace goro::http
