// goro — an HTTP/1.1 server that runs the same handlers under different
// execution models, so they can be load-tested side by side.
//
//   goro --port 8080                  # goroutine mode (the default): a goroutine
//                                     # per request being served
//   goro --mode=thread                # one OS thread per connection
//   goro --mode=pool --threads=64
//   GORO_PORT=9090 goro               # every flag also from GORO_<FLAG>
//   goro --help
//
// This file only reads flags; the server is the library's (run_demo,
// goro/http/demo.hpp).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>

#include "goro/http/demo.hpp"

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

// Every option reads GORO_<NAME> when not on the command line: --max-conns
// from GORO_MAX_CONNS.  (Containers set defaults this way and leave the
// command line to the user.)
void add_envnames(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    std::string name = opt->get_single_name();
    if (name == "help" || name == "version") continue;
    std::string env = "GORO_";
    for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    opt->envname(env);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string log_level = "info";
  // Keep in step with add_demo_routes() (handlers.cpp).
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
      "  GET  /debug/             live dashboard: requests/s, threads, RSS, goroutines, run queues\n"
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
      "SIGINT/SIGTERM shut down gracefully; a second signal exits at once.\n"
      "SIGQUIT (goroutine mode) prints every goroutine with its stack to stderr and the server goes on (Go's exits).\n"
      "Every option can also be set by the environment variable GORO_<OPTION> (shown as Env: below), e.g.\n"
      "GORO_PORT=9090 or GORO_MAX_CONNS=500; an option given on the command line wins."};
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
  goro::http::DemoOptions demo;
  app.add_option("--db", demo.db,
                 "PostgreSQL for /db, /queries, /fortunes, /updates: a libpq conninfo (\"host=/path port=5432 "
                 "dbname=hello_world user=...\") or postgresql:// URI. Without it, libpq's environment (PGHOST, "
                 "PGDATABASE, PGSERVICE) if set; else those endpoints answer 503");
  app.add_option("--db-pool", demo.db_pool,
                 "database connections at most; a request that finds them all busy waits (parked, in goroutine mode)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  add_duration(app, "--db-timeout", demo.db_timeout,
               "one deadline for a request's database work, from the wait for a pooled connection to the last "
               "result; past it the statement is cancelled and the answer is 504 (503 if no connection came free)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--access-log", cfg.access_log, "append one line per request to this file (- = stdout), written by a background thread");
  app.add_option("--upstream", demo.fanout.upstream,
                 "/fanout's upstream, an http:// URL; {ms} in it becomes the request's ms, else ms=M is appended "
                 "(default: this server's own /sleep)")
      ->check([](const std::string& url) { return goro::http::check_fanout_upstream(url); });
  add_duration(app, "--fanout-timeout", demo.fanout.timeout,
               "deadline for a whole /fanout request, from its start: calls not back by then count as timed out (504)");
  add_envnames(app);
  CLI11_PARSE(app, argc, argv);
  cfg.mode = mode == "pool" ? Mode::pool : mode == "thread" ? Mode::thread : Mode::goroutine;
  cfg.poller = poller == "uring" ? goro::netpoll::PollerKind::uring
               : poller == "epoll" ? goro::netpoll::PollerKind::epoll
                                   : goro::netpoll::PollerKind::automatic;

  auto logger = spdlog::stderr_color_mt("goro");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(log_level));

  return goro::http::run_demo(cfg, demo);
}
