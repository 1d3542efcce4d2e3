// How a mode serves accepted connections (internal to goro::http).
//
// Server (server.cpp) owns the listener, the accept loop and the drain; it
// picks one Executor for --mode when it is built and never looks at the mode
// again.  An Executor decides where serve_connection() runs:
//
//   GoroutineExecutor (goroutine_executor.cpp) — inside goro::run: an idle
//       connection is a Session parked in the poller (Conn::when_readable),
//       each readable event spawns a goroutine that serves what arrived;
//   ThreadExecutor (thread_executor.cpp) — an OS thread per connection,
//       joined once it has finished;
//   PoolExecutor (pool_executor.cpp) — --threads OS threads and a FIFO of
//       accepted connections.
//
// Every executor receives connections already registered in the
// ConnRegistry and must release() each exactly once, whatever happens to it.
// Executors do not accept, reject over --max-conns, or drain: the Server does.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "conn_registry.hpp"
#include "goro/http/config.hpp"
#include "goro/http/connection.hpp"
#include "goro/http/router.hpp"
#include "goro/netpoll/conn.hpp"
#include "rejecter.hpp"

namespace goro::http::detail {

// What every executor may use; all of it outlives the executor.
struct ExecutorDeps {
  const ConnEnv& env;  // for serve_connection; env.config, and env.draining: the shutdown interrupt
  ConnRegistry& conns;
  Rejecter& rejecter;  // for a connection the mode cannot take after all (thread mode)
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Called once by Server::listen(), after the port is bound: acquires what
  // the mode needs up front (goroutine mode: the netpoll backend, recorded
  // in ctx.poller).  Throws std::runtime_error saying what is unavailable.
  virtual void prepare(Context& ctx) { (void)ctx; }

  // For the start-up line: "procs=2 poller=io_uring (...)", "threads=64" or
  // "".  Valid after prepare().
  virtual std::string detail() const { return ""; }

  // Runs accept_loop where this mode serves connections (goroutine mode: as
  // the main goroutine of goro::run), then `drain` off any goroutine worker,
  // and returns drain's result.  accept_loop calls start() for each
  // connection it accepts and returns once shutdown begins.
  virtual bool run(const std::function<void()>& accept_loop, const std::function<bool()>& drain) = 0;

  // Takes an accepted connection, already tracked in deps.conns.  Called only
  // by the accept loop, inside run().  Must not block the accept loop.
  virtual void start(std::unique_ptr<netpoll::Conn> c) = 0;

  // Called by the drain once the registry is empty (all_closed) or the
  // forced close's grace has passed: stops the mode's own threads — joins
  // them if all_closed, else detaches them (a handler still runs and cannot
  // be interrupted; the process exits around it).
  virtual void stop(bool all_closed) { (void)all_closed; }
};

std::unique_ptr<Executor> make_goroutine_executor(const ExecutorDeps& deps);
std::unique_ptr<Executor> make_thread_executor(const ExecutorDeps& deps);
std::unique_ptr<Executor> make_pool_executor(const ExecutorDeps& deps);

// The common end of a connection on an OS thread: serve it until it closes,
// then release it (untrack and close).  `accepted`: when the accept loop
// took it, where the first request's header deadline starts.
inline void serve_and_release(const ConnEnv& env, ConnRegistry& conns, std::unique_ptr<netpoll::Conn> c,
                              netpoll::Clock::time_point accepted) {
  serve_connection(*c, env, {.accepted = accepted});
  conns.release(std::move(c));
}

}  // namespace goro::http::detail
