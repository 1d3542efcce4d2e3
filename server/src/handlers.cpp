// The built-in endpoints, and the binary's server built from them
// (demo.hpp).  Each handler is ordinary blocking code; see router.hpp.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "goro/http/dashboard.hpp"
#include "goro/http/demo.hpp"
#include "goro/http/server.hpp"
#include "goro/http/techempower.hpp"
#include "goro/netpoll/poller.hpp"
#include "goro/stats.hpp"
#include "goro/time.hpp"
#include "log_limit.hpp"

namespace goro::http {

namespace {

// /sleep stands in for a slow database call; 10 s bounds how long one
// request can hold a thread (or goroutine) and stays under the default
// header/idle timeouts' scale.
constexpr uint64_t kMaxSleepMs = 10'000;
// /cpu iterations: 50 M xorshift steps take ~50-100 ms here, enough to show
// CPU-bound behaviour without letting one request monopolize a core.
constexpr uint64_t kMaxCpuIterations = 50'000'000;

// Parses a decimal query parameter in [0, max].  Returns false and fills
// `err` with a message for the 400 page otherwise.
bool number_param(const Request& req, std::string_view name, uint64_t max, uint64_t& out, std::string& err) {
  auto v = req.query_param(name);
  if (!v || v->empty()) {
    err = fmt::format("missing ?{}=N", name);
    return false;
  }
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc{} || end != v->data() + v->size() || out > max) {
    err = fmt::format("{} must be an integer from 0 to {}", name, max);
    return false;
  }
  return true;
}

Response hello(const Request&, const Context&) { return Response::text(200, "Hello, World!\n"); }

Response sleep(const Request& req, const Context&) {
  uint64_t ms;
  std::string err;
  if (!number_param(req, "ms", kMaxSleepMs, ms, err)) return Response::error(400, err);
  goro::sleep_for(std::chrono::milliseconds(ms));
  // By hand, not fmt::format: at 5,000 sleepers fmt's generic formatting
  // path was 0.5 us of this handler's ~20 us of server CPU per request
  // (perf), for a 13-byte body.
  // The digits may not take the room " ms\n" needs (ms has at most 5).
  constexpr std::string_view kHead = "slept ", kTail = " ms\n";
  char body[32];
  std::memcpy(body, kHead.data(), kHead.size());
  char* end = std::to_chars(body + kHead.size(), body + sizeof body - kTail.size(), ms).ptr;
  std::memcpy(end, kTail.data(), kTail.size());
  return Response::text(200, std::string(body, end + kTail.size()));
}

Response cpu(const Request& req, const Context&) {
  uint64_t n;
  std::string err;
  if (!number_param(req, "n", kMaxCpuIterations, n, err)) return Response::error(400, err);
  // xorshift64: deterministic, cannot be folded into a closed form.
  uint64_t x = 88172645463325252ull;
  for (uint64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return Response::text(200, fmt::format("{:016x}\n", x));
}

Response echo(const Request& req, const Context&) {
  Response r = Response::text(200, req.body);
  const std::string* ct = req.header("Content-Type");
  r.content_type = ct ? *ct : "application/octet-stream";
  return r;
}

std::string_view content_type_for(std::string_view path) {
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"}, {".xml", "application/xml"},
      {".svg", "image/svg+xml"},             {".png", "image/png"},
      {".jpg", "image/jpeg"},                {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},                 {".webp", "image/webp"},
      {".ico", "image/x-icon"},              {".wasm", "application/wasm"},
      {".pdf", "application/pdf"},           {".woff2", "font/woff2"},
      {".mp4", "video/mp4"},
  };
  auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    std::string_view ext = path.substr(dot);
    for (const auto& e : kTypes)
      if (iequals(e.ext, ext)) return e.type;
  }
  return "application/octet-stream";
}

// The server ran out of something (descriptors, memory) that the request
// needs: 503 with Retry-After, never a 4xx that blames the request.  Logged
// at most once a second: under exhaustion every request would log.
Response exhausted(int err) {
  static EverySecond log;
  if (log.due()) spdlog::warn("/static: {}; answering 503 (raise ulimit -n or lower --max-conns)", std::strerror(-err));
  return Response::retry_later(err == -ENOMEM ? "out of memory" : "out of file descriptors");
}

Response static_file(const Request& req, const Context& ctx) {
  std::string rel;
  if (!percent_decode(req.path().substr(std::string_view("/static/").size()), rel))
    return Response::error(400, "bad percent-encoding in path");
  // Refuse ".." outright (even where it would stay inside the root): a
  // traversal attempt is never a legitimate link.  openat2 below also stops
  // symlinks that lead out.
  std::string_view rest = rel;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    if (rest.substr(0, slash) == "..") return Response::error(403, "path leaves the root");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty() || ctx.root_fd < 0) return Response::error(404, "no such file");
  Response r;
  int e = r.file.open_beneath(ctx.root_fd, rel.c_str());
  if (e == -EXDEV || e == -ELOOP) return Response::error(403, "path leaves the root");
  if (e == -EACCES || e == -EPERM) return Response::error(403, "not readable");
  if (e == -EMFILE || e == -ENFILE || e == -ENOMEM) return exhausted(e);
  if (e == -ENOENT || e == -ENOTDIR || e == -EISDIR || e == -ENAMETOOLONG) return Response::error(404, "no such file");
  if (e < 0) {
    // Not the client's doing (EIO, ...): a 404 would tell it the file is gone.
    spdlog::error("/static/{}: {}", rel, std::strerror(-e));
    return Response::error(500, "cannot open the file");
  }
  r.content_type = content_type_for(rel);
  return r;
}

// The process's OS threads and resident set, from /proc/self/status (the
// same in every mode: what each execution model costs the machine).  Zero
// where it cannot be read.
struct ProcessStatus {
  uint64_t threads = 0, rss_bytes = 0;
};
ProcessStatus process_status() {
  ProcessStatus ps;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return ps;
  char line[256];
  unsigned long long v;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "Threads: %llu", &v) == 1) ps.threads = v;
    else if (std::sscanf(line, "VmRSS: %llu kB", &v) == 1) ps.rss_bytes = v * 1024;
  }
  std::fclose(f);
  return ps;
}

// Server counters, the process's threads and RSS, the runtime's scheduler
// state and the poller's counters.
Response debug_vars(const Request&, const Context& ctx) {
  const Metrics& m = ctx.metrics;
  auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  auto ld = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out,
                 "{{\"mode\": \"{}\", \"uptime_seconds\": {:.3f}, \"connections\": {{\"accepted\": {}, "
                 "\"active\": {}, \"rejected\": {}}}, \"requests\": {}, \"responses\": {{\"2xx\": {}, "
                 "\"3xx\": {}, \"4xx\": {}, \"5xx\": {}}}, \"response_writes\": {}, \"handler_exceptions\": {}, "
                 "\"timeouts\": {}",
                 to_string(ctx.config.mode), up, ld(m.accepted), ld(m.active), ld(m.rejected), ld(m.requests),
                 ld(m.status_2xx), ld(m.status_3xx), ld(m.status_4xx), ld(m.status_5xx), ld(m.response_writes),
                 ld(m.handler_exceptions), ld(m.timeouts));
  ProcessStatus proc = process_status();
  fmt::format_to(out, ", \"process\": {{\"threads\": {}, \"rss_bytes\": {}}}", proc.threads, proc.rss_bytes);
  if (ctx.config.mode == Mode::goroutine) {
    goro::Stats rt = goro::stats();
    fmt::format_to(out,
                   ", \"runtime\": {{\"procs\": {}, \"goroutines\": {}, \"spawned\": {}, \"switches\": {}, "
                   "\"steals\": {}, \"parks\": {}, \"global_runq\": {}, \"spinning\": {}, \"idle\": {}, "
                   "\"stack_size\": {}, \"stacks\": {}, \"blocking_threads\": {}, \"p\": [",
                   rt.procs, rt.goroutines_alive, rt.goroutines_spawned, rt.switches, rt.steals, rt.parks,
                   rt.global_runq, rt.spinning, rt.idle, rt.stack_size, rt.stacks, rt.blocking_threads);
    for (size_t i = 0; i < rt.p.size(); ++i) {
      const auto& p = rt.p[i];
      fmt::format_to(out,
                     "{}{{\"id\": {}, \"runq\": {}, \"runnext\": {}, \"idle\": {}, \"timers\": {}, "
                     "\"switches\": {}, \"steals\": {}, \"parks\": {}, \"spawned\": {}}}",
                     i ? ", " : "", p.id, p.runq, p.runnext, p.idle, p.timers, p.switches, p.steals, p.parks,
                     p.spawned);
    }
    netpoll::PollerStats ps = netpoll::poller_stats();
    fmt::format_to(out,
                   "]}}, \"netpoll\": {{\"backend\": \"{}\", \"submissions\": {}, \"completions\": {}, "
                   "\"parks\": {}, \"timeouts\": {}, \"wakes\": {}, \"recv_buffered\": {}, \"recv_nobufs\": {}, "
                   "\"accepts_multishot\": {}, \"ring_sends\": {}}}",
                   netpoll::to_string(ctx.config.poller == netpoll::PollerKind::automatic ? ctx.poller : ctx.config.poller),
                   ps.submissions, ps.completions, ps.parks, ps.timeouts, ps.wakes, ps.recv_buffered, ps.recv_nobufs,
                   ps.accepts_multishot, ps.ring_sends);
  }
  fmt::format_to(out, "}}\n");
  Response r = Response::text(200, fmt::to_string(b));
  r.content_type = "application/json";
  return r;
}

// The same figures in Prometheus' text exposition format.
Response metrics(const Request&, const Context& ctx) {
  const Metrics& m = ctx.metrics;
  auto ld = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help, auto value,
                    std::string_view labels = {}) {
    fmt::format_to(out, "# HELP goro_{} {}\n# TYPE goro_{} {}\ngoro_{}{} {}\n", name, help, name, type, name, labels,
                   value);
  };
  metric("connections_accepted_total", "counter", "Connections accepted.", ld(m.accepted));
  metric("connections_rejected_total", "counter", "Connections answered 503 (over --max-conns).", ld(m.rejected));
  metric("connections_active", "gauge", "Connections being served or queued.", ld(m.active));
  metric("requests_total", "counter", "Requests dispatched to a handler.", ld(m.requests));
  fmt::format_to(out, "# HELP goro_responses_total Responses by status class.\n# TYPE goro_responses_total counter\n");
  fmt::format_to(out, "goro_responses_total{{class=\"2xx\"}} {}\ngoro_responses_total{{class=\"3xx\"}} {}\n",
                 ld(m.status_2xx), ld(m.status_3xx));
  fmt::format_to(out, "goro_responses_total{{class=\"4xx\"}} {}\ngoro_responses_total{{class=\"5xx\"}} {}\n",
                 ld(m.status_4xx), ld(m.status_5xx));
  metric("response_writes_total", "counter", "Writes that carried responses (a pipelined batch takes one).",
         ld(m.response_writes));
  metric("handler_exceptions_total", "counter", "Handler exceptions turned into 500.", ld(m.handler_exceptions));
  metric("timeouts_total", "counter", "Header, body and idle timeouts.", ld(m.timeouts));
  if (ctx.config.mode == Mode::goroutine) {
    goro::Stats rt = goro::stats();
    metric("goroutines", "gauge", "Goroutines alive.", rt.goroutines_alive);
    metric("goroutines_spawned_total", "counter", "Goroutines spawned.", rt.goroutines_spawned);
    metric("sched_switches_total", "counter", "Goroutine context switches.", rt.switches);
    metric("sched_steals_total", "counter", "Goroutines stolen from another P.", rt.steals);
    metric("sched_parks_total", "counter", "Goroutine parks.", rt.parks);
    metric("sched_procs", "gauge", "Ps (worker threads).", rt.procs);
    fmt::format_to(out, "# HELP goro_sched_runqueue Runnable goroutines in each P's local queue.\n"
                        "# TYPE goro_sched_runqueue gauge\n");
    for (const auto& p : rt.p) fmt::format_to(out, "goro_sched_runqueue{{p=\"{}\"}} {}\n", p.id, p.runq);
    netpoll::PollerStats ps = netpoll::poller_stats();
    metric("netpoll_submissions_total", "counter", "I/O waits submitted to the poller.", ps.submissions);
    metric("netpoll_completions_total", "counter", "Completions reaped by the poller.", ps.completions);
    metric("netpoll_timeouts_total", "counter", "I/O waits ended by their deadline.", ps.timeouts);
    metric("netpoll_recv_buffered_total", "counter", "Idle waits whose completion brought the bytes (io_uring).",
           ps.recv_buffered);
    metric("netpoll_recv_nobufs_total", "counter", "Idle waits that found the buffer ring empty and fell back to recv.",
           ps.recv_nobufs);
    metric("netpoll_accepts_multishot_total", "counter", "Connections delivered by a multishot accept (io_uring).",
           ps.accepts_multishot);
    metric("netpoll_ring_sends_total", "counter", "Socket writes sent through the ring, not sendmsg (io_uring).",
           ps.ring_sends);
  }
  Response r = Response::text(200, fmt::to_string(b));
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

// Every goroutine with its state and wait reason, as Go prints them; with
// ?stacks=1 also how long each has waited, its call stack and where it was
// created (Go's ?debug=2).
Response debug_goroutines(const Request& req, const Context& ctx) {
  if (ctx.config.mode != Mode::goroutine)
    return Response::text(200, fmt::format("no goroutines: --mode={} runs connections on OS threads\n",
                                           to_string(ctx.config.mode)));
  if (req.query_param("stacks") != "1") return Response::text(200, goro::dump_goroutines());
  // Symbolizing reads the binaries' debug info (tens to hundreds of ms): on a
  // blocking() helper, not on a worker whose other goroutines would wait.
  return Response::text(200, goro::blocking([] { return goro::dump_goroutines(true); }));
}

// Shows that a handler's exception becomes a 500 and the server goes on.
Response debug_throw(const Request&, const Context&) { throw std::runtime_error("handler threw on purpose (/debug/throw)"); }

}  // namespace

void add_demo_routes(Router& r, std::shared_ptr<const RouteStats> stats) {
  // /sleep and /static/ block, /cpu computes for as long as asked: answers
  // queued before them go out first (Answers).
  constexpr Answers at_once = Answers::at_once;
  r.get("/", hello, at_once);
  r.get("/sleep", sleep);
  r.get("/cpu", cpu);
  r.add({"POST", "PUT"}, "/echo", echo, false, at_once);
  r.add({"GET"}, "/static/", static_file, /*prefix=*/true);
  r.get("/debug/vars", debug_vars, at_once);
  r.get("/metrics", metrics, at_once);
  r.get("/debug/goroutines", debug_goroutines);  // ?stacks=1 takes a while
  r.get("/debug/throw", debug_throw, at_once);
  add_dashboard_routes(r);
  if (stats) {
    r.get(
        "/debug/routes",
        [stats](const Request&, const Context&) {
          Response resp = Response::text(200, stats->json());
          resp.content_type = "application/json";
          return resp;
        },
        at_once);
  }
}

int run_demo(Config cfg, const DemoOptions& opts) {
  block_shutdown_signals();  // before the database pool's threads start
  // The database is optional and may be down at start: goro serves
  // everything else meanwhile, and the pool connects once it is back.
  std::shared_ptr<pg::Pool> pool;
  bool db_from_env = std::getenv("PGHOST") || std::getenv("PGDATABASE") || std::getenv("PGSERVICE");
  if (!opts.db.empty() || db_from_env) {
    pool = std::make_shared<pg::Pool>(
        pg::Pool::Options{.conninfo = opts.db, .size = opts.db_pool, .setup = prepare_techempower});
    pg::Status st = pool->run(netpoll::deadline_in(opts.db_timeout), [](pg::Conn&) { return pg::Status{}; });
    if (st.ok()) {
      spdlog::info("database: connected (pool of {}, timeout {}ms)", opts.db_pool, opts.db_timeout.count());
    } else {
      spdlog::warn("database: {} ({}); its endpoints answer 503 until it is reachable", st.message,
                   pg::to_string(st.code));
    }
  }
  // No middleware: log_requests and route_metrics around every route cost
  // /plaintext ~10% CPU per request in goroutine mode (depth 16, measured);
  // the router alone costs what the old one did.
  Router router;
  add_demo_routes(router);
  add_techempower_routes(router, pool, opts.db_timeout);
  std::unique_ptr<Server> server;
  // /fanout's default upstream is this server's own /sleep; its port is
  // known once it listens, before any request can arrive.
  FanoutOptions fanout = opts.fanout;
  fanout.self_base = [&cfg, &server] { return loopback_base(cfg.bind, server->port()); };
  add_fanout_routes(router, std::move(fanout));
  if (opts.add_routes) opts.add_routes(router);

  try {
    server = std::make_unique<Server>(cfg, std::move(router));
    server->listen();
  } catch (const std::exception& e) {
    spdlog::critical("goro: {}", e.what());
    return 1;
  }
  // Threads still inside a handler after a forced close must not run into
  // destroyed globals: leave without running destructors.
  if (!server->run()) std::_Exit(0);
  return 0;
}

}  // namespace goro::http
