/// \file
/// TechEmpower's Framework Benchmarks test types
/// as routes: /json, /plaintext, /db, /queries, /fortunes, /updates, written
/// to their rules ("Framework Tests Overview"): every response carries Server
/// and Date, its Content-Type and Content-Length; JSON is serialized per
/// request; the database endpoints run plain blocking code on goro::pg.
///
/// The database endpoints need a pool (goro::pg::Pool, with
/// prepare_techempower as its setup).  Without one — no database configured —
/// they answer 503 saying so.  Their answers when the database fails:
/// - 503 `database unavailable: ...` — cannot connect, or the connection broke
/// - 503 `database busy: ...` — no pooled connection came free in time
/// - 504 `database timeout: ...` — the work passed its deadline (cancelled)
/// - 500 `database error: ...` — the server refused a statement
#pragma once

#include <chrono>
#include <memory>

#include "goro/http/router.hpp"
#include "goro/pg/pool.hpp"

namespace goro::http {

/// Prepares the statements the routes use; the pool runs it on every new
/// connection (Pool::Options::setup).
pg::Status prepare_techempower(pg::Conn& c, pg::Deadline d);

/// Adds the six routes, and GET /debug/db (the pool's counters as JSON).
/// `timeout` bounds one request's database work, including the wait for a
/// pooled connection.  `pool` may be null.
void add_techempower_routes(Router& r, std::shared_ptr<pg::Pool> pool, std::chrono::milliseconds timeout);

}  // namespace goro::http
