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
//
// A server of your own (the demo, goro/http/demo.hpp, is one):
//
//   goro::http::Config cfg;               // mode, port, limits: as the flags set them
//   cfg.mode = goro::http::Mode::goroutine;
//   goro::http::block_shutdown_signals();  // first, before any thread starts
//   goro::http::Server server(cfg);        // no routes yet: 404 for everything
//   server.get("/users/{id}", [](const Request& req, const Context&) {
//     return Response::text(200, fmt::format("user {}\n", req.param("id")));
//   });
//   server.run();                          // until SIGINT/SIGTERM
#pragma once

#include <memory>
#include <string>

#include "goro/http/config.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/router.hpp"

namespace goro::http {

/// Blocks SIGINT and SIGTERM in the calling thread, for Server::run() to
/// wait for them, and ignores SIGPIPE.  Call it first in main, before
/// anything starts a thread: threads inherit the mask, and a thread that
/// does not block the signals would take one and die of it.
void block_shutdown_signals();

/// An HTTP/1.1 server: routes (its Router), one execution model
/// (Config::mode), graceful shutdown.
class Server {
 public:
  /// A server that answers with `router`'s routes; by default none (every
  /// path is 404) until some are added.
  explicit Server(Config cfg, Router router = {});
  ~Server();  ///< closes what listen() opened; call after serve() returned
  Server(const Server&) = delete;             ///< one listener, one owner
  Server& operator=(const Server&) = delete;  ///< one listener, one owner

  /// The routing table, for adding routes and middleware before listen().
  Router& router();
  /// router().handle(...): `h` for `method` on a path or pattern.
  void handle(std::string method, std::string pattern, Handler h, Answers answers = Answers::may_block) {
    router().handle(std::move(method), std::move(pattern), std::move(h), answers);
  }
  /// router().get(...): GET (and HEAD).
  void get(std::string pattern, Handler h, Answers answers = Answers::may_block) {
    router().get(std::move(pattern), std::move(h), answers);
  }
  /// router().post(...).
  void post(std::string pattern, Handler h, Answers answers = Answers::may_block) {
    router().post(std::move(pattern), std::move(h), answers);
  }
  /// router().put(...).
  void put(std::string pattern, Handler h, Answers answers = Answers::may_block) {
    router().put(std::move(pattern), std::move(h), answers);
  }
  /// router().del(...): DELETE.
  void del(std::string pattern, Handler h, Answers answers = Answers::may_block) {
    router().del(std::move(pattern), std::move(h), answers);
  }
  /// router().use(m): middleware around every route.
  void use(Middleware m) { router().use(std::move(m)); }

  /// Binds and listens; in goroutine mode also chooses the poller.  Throws
  /// std::runtime_error saying what failed.
  void listen();
  /// The port listened on (the one chosen, for Config::port 0).
  int port() const;

  /// Accepts and serves until shutdown() and the drain are done.  Returns
  /// true if every connection finished before --shutdown-timeout.
  bool serve();

  /// Begins graceful shutdown.  Any thread; not from a signal handler.
  void shutdown();

  /// listen() unless listening already, logs the "listening on" line, and
  /// serves until SIGINT or SIGTERM (graceful shutdown; a second signal
  /// exits at once).  The signals must be blocked in every thread:
  /// block_shutdown_signals() first in main.  Returns serve()'s answer;
  /// after false, handlers may still run on other threads.
  bool run();

  /// What the start-up line says about the mode: "procs=2 poller=io_uring
  /// (...)", "threads=64" or "".  Valid after listen().
  std::string mode_detail() const;

  /// The server's counters (/debug/vars shows them).
  const Metrics& metrics() const;
  /// The configuration it was built with.
  const Config& config() const;

 private:
  struct State;  // server/src/server.cpp
  std::unique_ptr<State> s_;
};

}  // namespace goro::http
