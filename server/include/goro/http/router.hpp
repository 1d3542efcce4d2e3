// goro/http/router.hpp — path → handler, with 404 and 405 (+ Allow).
//
// Handlers are plain blocking code.  They must not know which mode runs them:
// they block only through goro's primitives (goro::sleep_for, goro::netpoll::File,
// ...), which sleep the OS thread in thread/pool mode and park the goroutine
// in goroutine mode.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "goro/http/config.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/request.hpp"
#include "goro/http/response.hpp"

namespace goro::http {

// What a handler may see of the server.
struct Context {
  const Config& config;
  const Metrics& metrics;
  int root_fd;  // --root, opened once; -1 if it could not be opened
  std::chrono::steady_clock::time_point started;
  netpoll::PollerKind poller = netpoll::PollerKind::automatic;  // the backend chosen (goroutine mode)
};

using Handler = std::function<Response(const Request&, const Context&)>;

// Whether a handler answers at once (computes from the request and returns)
// or may block (sleeps, reads a file, waits on a backend).  Pipelined
// requests' answers are queued and sent together, but never held while a
// handler that may block runs: they are sent before it starts.
enum class Answers { may_block, at_once };

class Router {
 public:
  // `methods` like {"GET", "POST"}; GET implies HEAD.  `prefix` matches every
  // path that starts with `path`.
  void add(std::vector<std::string> methods, std::string path, Handler h, bool prefix = false,
           Answers answers = Answers::may_block);
  // Whether dispatch(req) may block: its route's Answers (404, 405 and
  // OPTIONS answer at once).
  bool may_block(const Request& req) const;

  // Finds the route and runs it.  Exceptions escape to the caller (the
  // connection turns them into 500).
  Response dispatch(const Request& req, const Context& ctx) const;

 private:
  struct Route {
    std::vector<std::string> methods;
    std::string path;
    bool prefix;
    Handler handler;
    Answers answers;
  };
  const Route* find(std::string_view path) const;
  std::vector<Route> routes_;
};

// The built-in endpoints: /, /sleep, /cpu, /echo, /static/, /debug/vars,
// /metrics, /debug/goroutines, /debug/throw.
Router default_router();

}  // namespace goro::http
