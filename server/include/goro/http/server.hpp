// goro/http/server.hpp — an HTTP/1.1 server: listen, serve in one of three
// execution modes (Config::mode), shut down gracefully.
//
//   goroutine: goroutines M:N over --procs workers, each with its netpoll
//           poller (io_uring or epoll).  A goroutine runs per request being
//           served; an idle keep-alive connection holds none (the poller
//           keeps it until bytes arrive).
//   thread: one OS thread per connection (detached); the thread runs the
//           connection loop and exits with the connection.
//   pool:   --threads workers take accepted connections from a FIFO queue
//           and serve each until it closes.
//
// Graceful shutdown (shutdown(), e.g. on SIGTERM): the listener closes, idle
// connections close, connections mid-request finish that request with
// "Connection: close"; serve() returns when none are left or, after
// --shutdown-timeout, shuts the rest down by force.
//
// How it is built: server/src/server.cpp (listener, accept loop, drain) and
// one executor per mode (server/src/executor.hpp).
#pragma once

#include <memory>
#include <string>

#include "goro/http/config.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/router.hpp"

namespace goro::http {

class Server {
 public:
  explicit Server(Config cfg, Router router = default_router());
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; in goroutine mode also chooses the poller.  Throws
  // std::runtime_error saying what failed.
  void listen();
  int port() const;

  // Accepts and serves until shutdown() and the drain are done.  Returns
  // true if every connection finished before --shutdown-timeout.
  bool serve();

  // Begins graceful shutdown.  Any thread; not from a signal handler.
  void shutdown();

  // What the start-up line says about the mode: "procs=2 poller=io_uring
  // (...)", "threads=64" or "".  Valid after listen().
  std::string mode_detail() const;

  const Metrics& metrics() const;
  const Config& config() const;

 private:
  struct State;  // server/src/server.cpp
  std::unique_ptr<State> s_;
};

}  // namespace goro::http
