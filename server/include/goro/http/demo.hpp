// goro/http/demo.hpp — the goro binary's endpoints, as one user of the
// handler API: the demo routes (/, /sleep, /cpu, /echo, /static/, /debug/...)
// and the TechEmpower ones (techempower.hpp) on one server.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "goro/http/config.hpp"
#include "goro/http/fanout.hpp"
#include "goro/http/router.hpp"

namespace goro::http {

/// Adds the built-in endpoints: /, /sleep, /cpu, /echo, /static/,
/// /debug/vars, /metrics, /debug/goroutines, /debug/throw; and, given
/// `stats`, /debug/routes (its per-route counters as JSON).
void add_demo_routes(Router& r, std::shared_ptr<const RouteStats> stats = {});

/// What the demo needs beyond Config: the database behind the TechEmpower
/// routes (the flags --db, --db-pool, --db-timeout).
struct DemoOptions {
  /// libpq conninfo or URI; "" = libpq's environment (PGHOST, PGDATABASE,
  /// PGSERVICE) if set, else no database (those routes answer 503).
  std::string db;
  int db_pool = 16;  ///< database connections at most
  /// One deadline for a request's database work.
  std::chrono::milliseconds db_timeout{std::chrono::seconds(5)};
  /// GET /fanout (--upstream, --fanout-timeout); its self_base is set by
  /// run_demo to the server's own address.
  FanoutOptions fanout;
  /// More routes, added after the demo's and TechEmpower's (may be empty).
  std::function<void(Router&)> add_routes;
};

/// The goro binary after its flags: blocks the shutdown signals, opens the
/// database pool, builds the demo + TechEmpower + /fanout routes (no
/// middleware: it would cost /plaintext), and runs the server until
/// SIGINT/SIGTERM.  Returns main's exit code: 1 if it cannot listen, else 0
/// (after a forced shutdown it exits at once, without destructors, since
/// handlers may still run).
int run_demo(Config cfg, const DemoOptions& opts);

}  // namespace goro::http
