// goro — an HTTP/1.1 server that runs the same handlers under different
// execution models, so they can be load-tested side by side.
//
//   goro --port 8080                  # goroutine mode (the default): a goroutine
//                                     # per request being served
//   goro --mode=thread                # one OS thread per connection
//   goro --mode=pool --threads=64
//   goro --help
#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "goro/http/fanout.hpp"
#include "goro/http/server.hpp"
#include "goro/http/techempower.hpp"

namespace {

using goro::http::Config;
using goro::http::Mode;

// Parses "250ms", "10s", "2m" or a bare number of seconds.
std::string parse_duration(const std::string& in, std::chrono::milliseconds& out) {
  double v = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), v);
  if (ec != std::errc{} || v < 0) return "expected a duration like 500ms, 10s or 2m";
  std::string_view unit(end, in.data() + in.size() - end);
  double ms;
  if (unit == "ms") ms = v;
  else if (unit == "s" || unit.empty()) ms = v * 1000;
  else if (unit == "m") ms = v * 60'000;
  else return "unknown unit '" + std::string(unit) + "' (use ms, s or m)";
  out = std::chrono::milliseconds(static_cast<long long>(ms));
  return {};
}

void add_duration(CLI::App& app, const std::string& name, std::chrono::milliseconds& target, const std::string& help) {
  app.add_option_function<std::string>(
         name,
         [&target, name](const std::string& s) {
           if (auto err = parse_duration(s, target); !err.empty()) throw CLI::ValidationError(name, err);
         },
         help + " (default " + std::to_string(target.count()) + "ms)")
      ->type_name("DURATION");
}

// The server the signal thread shuts down.  main clears it, under the lock,
// before the server is destroyed: a signal handled while serve() returns
// must not reach a freed Server (ASan caught the signal thread still inside
// shutdown() as main freed it).  Globals, so a late signal finds them alive.
std::mutex g_signal_mu;
goro::http::Server* g_server = nullptr;  // guarded by g_signal_mu

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string log_level = "info";
  // Keep in step with default_router() (handlers.cpp).
  CLI::App app{
      "goro: an HTTP/1.1 server that runs the same handlers under different execution models.\n"
      "Endpoints (HEAD works wherever GET does and OPTIONS lists the methods; a wrong method gets 405 with Allow,\n"
      "an unknown method 501, an unknown path 404):\n"
      "  GET  /                   Hello, World!\n"
      "  GET  /sleep?ms=N         sleep N ms (0-10000), then answer: a slow database call\n"
      "  GET  /cpu?n=N            N xorshift steps (0-50000000): CPU-bound work\n"
      "  POST|PUT /echo           the request body back\n"
      "  GET  /static/<path>      a file below --root\n"
      "  GET  /debug/vars         JSON counters: server, scheduler and poller (goroutine mode)\n"
      "  GET  /metrics            the same in Prometheus text format\n"
      "  GET  /debug/goroutines   every goroutine with its state and wait reason\n"
      "  GET  /debug/throw        a handler that throws: a 500, and the server goes on\n"
      "  GET  /fanout?n=N&ms=M    N (1-100) concurrent calls to --upstream with ms=M (0-10000), gathered over a\n"
      "                           channel: 200 all answered 2xx, 502 some failed, 504 --fanout-timeout passed first\n"
      "TechEmpower's test types (https://github.com/TechEmpower/FrameworkBenchmarks), the last four on PostgreSQL\n"
      "(--db; scripts/db start runs one):\n"
      "  GET  /json, /plaintext   {\"message\":\"Hello, World!\"}, Hello, World!\n"
      "  GET  /db                 one random World row as JSON\n"
      "  GET  /queries?queries=N  N rows (1-500), each its own query\n"
      "  GET  /fortunes           every Fortune and one added, sorted, as an HTML table\n"
      "  GET  /updates?queries=N  N rows given new random numbers, persisted\n"
      "  Database down: 503; no pooled connection free in time: 503; over --db-timeout: 504.\n"
      "  GET  /debug/db           the connection pool: open, idle, waiting, connects, discarded\n"
      "SIGINT/SIGTERM shut down gracefully; a second signal exits at once."};
  app.set_version_flag("--version", "goro 0.1.0");
  std::string mode = "goroutine";
  app.add_option("--mode", mode,
                 "execution model: goroutine = goroutines M:N over --procs workers, one per request being "
                 "served, idle keep-alive connections parked in the netpoller (io_uring or epoll); "
                 "thread = one OS thread per connection; pool = --threads workers and a queue of connections "
                 "(while connections wait for a thread, idle keep-alive ones wait in an epoll idle set, not on a thread)")
      ->check(CLI::IsMember({"goroutine", "thread", "pool"}))
      ->capture_default_str();
  app.add_option("--procs", cfg.procs, "goroutine mode: worker threads (0 = $GOMAXPROCS, else the CPU count)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  std::string poller = "auto";
  app.add_option("--poller", poller,
                 "goroutine mode: netpoll backend; auto = io_uring if the kernel allows it, else epoll; "
                 "uring = io_uring or refuse to start")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}))
      ->capture_default_str();
  app.add_option("--threads", cfg.threads, "pool size for --mode=pool")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--bind", cfg.bind, "numeric IPv4 or IPv6 address to listen on")->capture_default_str();
  app.add_option("--port", cfg.port, "TCP port; 0 picks a free one (logged)")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--backlog", cfg.backlog, "listen(2) backlog (the kernel caps it at net.core.somaxconn)")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--root", cfg.root, "directory served under /static/ (symlinks out of it and .. are refused)")->capture_default_str();
  app.add_option("--max-conns", cfg.max_conns, "connections served at once; more get 503")
      ->check(CLI::Range(1, 10'000'000))->capture_default_str();
  app.add_option("--max-header-bytes", cfg.limits.max_header_bytes, "request line + headers; more get 431")
      ->check(CLI::Range(256, 64 << 20))->capture_default_str();
  app.add_option("--max-body-bytes", cfg.limits.max_body_bytes, "request body; more get 413")
      ->check(CLI::Range(0, 1 << 30))->capture_default_str();
  add_duration(app, "--header-timeout", cfg.header_timeout,
               "one deadline for a request's line and headers, from accept (first request) or its first byte "
               "(later ones), in every mode; then 408 and close");
  add_duration(app, "--body-timeout", cfg.body_timeout,
               "one deadline for the whole request body, from the end of its headers (like Go's ReadTimeout, not "
               "per read: a client trickling bytes cannot extend it); then 408 and close");
  add_duration(app, "--idle-timeout", cfg.idle_timeout,
               "keep-alive wait for the first byte of the next request; then close without a word");
  add_duration(app, "--write-timeout", cfg.write_timeout,
               "longest a response write may make no progress (the client takes no byte), like nginx's "
               "send_timeout: a slow reader that keeps reading gets the whole response; then close");
  add_duration(app, "--shutdown-timeout", cfg.shutdown_timeout,
               "on SIGINT/SIGTERM, time for in-flight requests before connections are closed by force");
  std::string db;
  app.add_option("--db", db,
                 "PostgreSQL for /db, /queries, /fortunes, /updates: a libpq conninfo (\"host=/path port=5432 "
                 "dbname=hello_world user=...\") or postgresql:// URI. Without it, libpq's environment (PGHOST, "
                 "PGDATABASE, PGSERVICE) if set; else those endpoints answer 503");
  int db_pool = 16;
  app.add_option("--db-pool", db_pool,
                 "database connections at most; a request that finds them all busy waits (parked, in goroutine mode)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  std::chrono::milliseconds db_timeout{std::chrono::seconds(5)};
  add_duration(app, "--db-timeout", db_timeout,
               "one deadline for a request's database work, from the wait for a pooled connection to the last "
               "result; past it the statement is cancelled and the answer is 504 (503 if no connection came free)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--access-log", cfg.access_log, "append one line per request to this file (- = stdout), written by a background thread");
  goro::http::FanoutOptions fanout;
  app.add_option("--upstream", fanout.upstream,
                 "/fanout's upstream, an http:// URL; {ms} in it becomes the request's ms, else ms=M is appended "
                 "(default: this server's own /sleep)")
      ->check([](const std::string& url) { return goro::http::check_fanout_upstream(url); });
  add_duration(app, "--fanout-timeout", fanout.timeout,
               "deadline for a whole /fanout request, from its start: calls not back by then count as timed out (504)");
  CLI11_PARSE(app, argc, argv);
  cfg.mode = mode == "pool" ? Mode::pool : mode == "thread" ? Mode::thread : Mode::goroutine;
  cfg.poller = poller == "uring" ? goro::netpoll::PollerKind::uring
               : poller == "epoll" ? goro::netpoll::PollerKind::epoll
                                   : goro::netpoll::PollerKind::automatic;

  auto logger = spdlog::stderr_color_mt("goro");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Signals go to one thread that waits for them (sigwait), so shutdown runs
  // as ordinary code.  Block them before any other thread exists.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // The database is optional and may be down at start: goro serves
  // everything else meanwhile, and the pool connects once it is back.
  std::shared_ptr<goro::pg::Pool> pool;
  bool db_from_env = std::getenv("PGHOST") || std::getenv("PGDATABASE") || std::getenv("PGSERVICE");
  if (!db.empty() || db_from_env) {
    pool = std::make_shared<goro::pg::Pool>(
        goro::pg::Pool::Options{.conninfo = db, .size = db_pool, .setup = goro::http::prepare_techempower});
    goro::pg::Status st = pool->run(goro::netpoll::deadline_in(db_timeout), [](goro::pg::Conn&) { return goro::pg::Status{}; });
    if (st.ok()) {
      spdlog::info("database: connected (pool of {}, timeout {}ms)", db_pool, db_timeout.count());
    } else {
      spdlog::warn("database: {} ({}); its endpoints answer 503 until it is reachable", st.message,
                   goro::pg::to_string(st.code));
    }
  }
  goro::http::Router router = goro::http::default_router();
  goro::http::add_techempower_routes(router, pool, db_timeout);

  std::unique_ptr<goro::http::Server> server;
  fanout.self_base = [&cfg, &server] { return goro::http::loopback_base(cfg.bind, server->port()); };
  goro::http::add_fanout_routes(router, std::move(fanout));
  try {
    server = std::make_unique<goro::http::Server>(cfg, std::move(router));
    server->listen();
  } catch (const std::exception& e) {
    spdlog::critical("goro: {}", e.what());
    return 1;
  }
  spdlog::info(
      "goro listening on {}:{} mode={} {} max_conns={} max_header_bytes={} max_body_bytes={} "
      "header_timeout={}ms body_timeout={}ms idle_timeout={}ms write_timeout={}ms shutdown_timeout={}ms root={}",
      cfg.bind, server->port(), to_string(cfg.mode), server->mode_detail(), cfg.max_conns,
      cfg.limits.max_header_bytes, cfg.limits.max_body_bytes, cfg.header_timeout.count(), cfg.body_timeout.count(),
      cfg.idle_timeout.count(), cfg.write_timeout.count(), cfg.shutdown_timeout.count(), cfg.root);
  spdlog::default_logger()->flush();

  {
    std::lock_guard lk(g_signal_mu);
    g_server = server.get();
  }
  std::thread([sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    {
      std::lock_guard lk(g_signal_mu);
      if (!g_server) return;  // serve() has returned: main is on its way out
      spdlog::info("{}: shutting down gracefully (again to exit at once)", sig == SIGINT ? "SIGINT" : "SIGTERM");
      g_server->shutdown();
    }
    sigwait(&sigs, &sig);
    std::lock_guard lk(g_signal_mu);
    if (g_server) {  // else main is exiting and may have destroyed the logger
      spdlog::warn("second signal: exiting now");
      spdlog::default_logger()->flush();
    }
    std::_Exit(1);
  }).detach();

  bool graceful = server->serve();
  {
    std::lock_guard lk(g_signal_mu);
    g_server = nullptr;
  }
  spdlog::info("goro stopped ({})", graceful ? "all connections finished" : "some connections closed by force");
  spdlog::default_logger()->flush();
  // Threads still inside a handler after a forced close must not run into
  // destroyed globals: leave without running destructors.
  if (!graceful) std::_Exit(0);
  return 0;
}
