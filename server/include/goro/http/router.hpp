// goro/http/router.hpp — method + path → handler, with path parameters,
// middleware, and 404, 405 (+ Allow), OPTIONS and HEAD answered for every
// route.
//
// Handlers are plain blocking code.  They must not know which mode runs them:
// they block only through goro's primitives (goro::sleep_for, goro::netpoll::File,
// ...), which sleep the OS thread in thread/pool mode and park the goroutine
// in goroutine mode.
//
// Paths, three kinds, looked up in this order:
//   exact    "/plaintext"             that path only (a hash table)
//   pattern  "/users/{id}"            {name} matches one non-empty segment;
//            "/files/{path...}"       {name...}, last only, the rest of the
//                                     path (possibly empty)
//   prefix   add(..., prefix = true)  every path that starts with it
// Among patterns the most specific matching one wins: where two differ, a
// literal segment beats {name}, and {name} beats {name...}.  Two patterns
// that match the same paths with neither more specific ("/a/{x}/c" and
// "/a/b/{y}"), the same route twice, and malformed patterns are refused at
// registration (std::invalid_argument).  A request goes to the first route in
// that order that has its method (GET /users/me and DELETE /users/{id} each
// serve their own); 405 only when no matching route has it.  OPTIONS is
// answered with Allow unless the route registers its own OPTIONS handler.
// Routes are registered before the server starts; the router is not safe to
// change while it dispatches.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "goro/http/config.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/request.hpp"
#include "goro/http/response.hpp"

namespace goro::http {

/// What a handler may see of the server.
struct Context {
  const Config& config;    ///< the server's configuration
  const Metrics& metrics;  ///< the server's counters
  int root_fd;             ///< --root, opened once; -1 if it could not be opened
  std::chrono::steady_clock::time_point started;  ///< when the server was built
  netpoll::PollerKind poller = netpoll::PollerKind::automatic;  ///< the backend chosen (goroutine mode)
};

/// A handler: computes the response to one request.  It may block (through
/// goro's primitives) and may throw: the connection answers 500 then.
using Handler = std::function<Response(const Request&, const Context&)>;

/// A middleware wraps a handler in another, e.g. to time it, log it or
/// catch its exceptions (see recover(), log_requests(), route_metrics()).
using Middleware = std::function<Handler(Handler)>;

/// Whether a handler answers at once (computes from the request and returns)
/// or may block (sleeps, reads a file, waits on a backend).  Pipelined
/// requests' answers are queued and sent together, but never held while a
/// handler that may block runs: they are sent before it starts.
enum class Answers {
  may_block,  ///< may sleep or wait: queued answers are sent first
  at_once,    ///< computes and returns: queued answers may wait for it
};

/// The routing table.  Register routes (add, handle, get, ...) and
/// middleware (use) first; then the server dispatches from any number of
/// threads at once.
class Router {
 public:
  Router();   ///< no routes, no middleware
  ~Router();  ///< frees the routes
  Router(Router&&) noexcept;             ///< moves the routes and middleware
  Router& operator=(Router&&) noexcept;  ///< moves the routes and middleware

  /// Registers `h` for each of `methods` (like {"GET", "POST"}; GET implies
  /// HEAD) on `path`, an exact path or a pattern.  `prefix` makes `path`
  /// match every path that starts with it (no parameters then).  Throws
  /// std::invalid_argument for a malformed pattern or a route registered
  /// already (same path and method) or ambiguous with one.
  void add(std::vector<std::string> methods, std::string path, Handler h, bool prefix = false,
           Answers answers = Answers::may_block);
  /// Registers `h` for one method on an exact path or pattern; see add().
  void handle(std::string method, std::string pattern, Handler h, Answers answers = Answers::may_block);
  /// handle("GET", ...): also answers HEAD.
  void get(std::string pattern, Handler h, Answers answers = Answers::may_block);
  /// handle("POST", ...).
  void post(std::string pattern, Handler h, Answers answers = Answers::may_block);
  /// handle("PUT", ...).
  void put(std::string pattern, Handler h, Answers answers = Answers::may_block);
  /// handle("DELETE", ...) (`delete` is a keyword).
  void del(std::string pattern, Handler h, Answers answers = Answers::may_block);

  /// Wraps every route's handler, those added before and after this call,
  /// in `m`.  The first middleware added is the outermost: after
  /// use(a); use(b) a request runs a(b(handler)).  Middleware sees requests
  /// that reached a route, not the router's own 404, 405 and OPTIONS.
  void use(Middleware m);

  /// Whether dispatch(req) may block: its route's Answers (404, 405 and
  /// OPTIONS answer at once).
  bool may_block(const Request& req) const;

  /// Finds the route, sets req.route (for req.param() and req.pattern()),
  /// and runs the handler.  Exceptions escape to the caller (the connection turns them
  /// into 500).
  Response dispatch(Request& req, const Context& ctx) const;

 private:
  struct Route;  // router.cpp
  const Route* find(std::string_view path, std::string_view method) const;
  Route& route_for(std::string path, bool prefix);
  Handler wrap(Handler h) const;  // h inside middleware_

  std::vector<std::unique_ptr<Route>> routes_;  // every route, in registration order
  // Exact routes: open addressing, linear probing, a power-of-two size at
  // least twice their number; nullptr is an empty slot.  (std::unordered_map
  // cost /plaintext more than the scan it replaced: measured.)
  std::vector<Route*> exact_;
  size_t exact_count_ = 0;
  size_t exact_index(std::string_view path) const;
  std::vector<Route*> patterns_;  // most specific first
  std::vector<Route*> prefixes_;  // in registration order
  std::vector<Middleware> middleware_;  // outermost first
};

/// recover(): a middleware that turns a handler's exception into a 500
/// and logs what was thrown (std::bad_alloc passes through: the connection
/// answers it with 503).  The server does the same for handlers without
/// it; with it, middleware outside it sees the 500 like any response.
Middleware recover();

/// log_requests(): one spdlog line per request at debug level (method,
/// target, route, status, microseconds).  Costs one level check when debug
/// logging is off.
Middleware log_requests();

/// Per-route request counters, filled by route_metrics() and shown as JSON
/// (the demo serves them at /debug/routes).
class RouteStats {
 public:
  RouteStats();   ///< no counters yet
  ~RouteStats();  ///< frees the counters (the middleware holds a shared_ptr)
  RouteStats(const RouteStats&) = delete;             ///< the middleware points into it
  RouteStats& operator=(const RouteStats&) = delete;  ///< the middleware points into it

  /// One route (method and pattern) that has served requests.
  struct Row {
    std::string method;   ///< the request method ("GET", "HEAD", ...)
    std::string pattern;  ///< the route's pattern, as registered
    uint64_t requests;    ///< requests its handler ran for
    uint64_t errors;      ///< of those, 5xx answers and exceptions
  };
  /// Every route that has served a request, sorted by pattern and method.
  std::vector<Row> rows() const;
  /// rows() as a JSON object: {"GET /users/{id}": {"requests": ..., ...}}.
  std::string json() const;

 private:
  struct Slot;
  friend Middleware route_metrics(std::shared_ptr<RouteStats> stats);
  Slot* new_slot();
  struct State;
  std::unique_ptr<State> s_;
};

/// route_metrics(stats): counts each route's requests and 5xx answers into
/// `stats`: one relaxed atomic add on a per-thread cache line per request,
/// no lock after a route's first request.
Middleware route_metrics(std::shared_ptr<RouteStats> stats);

}  // namespace goro::http
