// goro::http::Server: the listener, the accept loop and the drain.  Where
// connections are served is the executor's business (executor.hpp, one per
// mode, chosen once in the constructor); who is connected is the registry's
// (conn_registry.hpp); 503s over --max-conns are the rejecter's
// (rejecter.hpp).
//
// Invariants: State is built by the constructor and not reassigned; the
// accept loop (inside Executor::run) is the only caller of
// listener.accept() and executor->start(); drain() runs once, after the
// accept loop returned, on an OS thread (goroutine mode: goro::blocking).
// Shared mutable state lives in the registry, the rejecter, the executor,
// the Interrupt and the Metrics, each guarding its own.
#include "goro/http/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>
#include <utility>

#include "conn_registry.hpp"
#include "executor.hpp"
#include "goro/http/access_log.hpp"
#include "goro/http/connection.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/netpoll/listener.hpp"
#include "goro/time.hpp"
#include "rejecter.hpp"

namespace goro::http {

namespace {

using namespace std::chrono_literals;

// After a forced close, how long serve() waits for handlers to notice.
constexpr auto kForceGrace = 2s;

// The server the signal thread shuts down.  run() clears it, under the
// lock, before it returns (and the caller may destroy the server): a signal
// handled while serve() returns must not reach a freed Server (ASan caught
// the signal thread still inside shutdown() as main freed it).  Globals, so
// a late signal finds them alive.
std::mutex g_signal_mu;
Server* g_server = nullptr;  // guarded by g_signal_mu

sigset_t shutdown_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  return sigs;
}

}  // namespace

// Signals go to one thread that waits for them (sigwait, in run()), so
// shutdown runs as ordinary code.
void block_shutdown_signals() {
  sigset_t sigs = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::goroutine: return "goroutine";
    case Mode::thread: return "thread";
    case Mode::pool: return "pool";
  }
  return "?";
}

struct Server::State {
  State(Config c, Router r);
  ~State();
  void accept_loop();
  bool drain();

  Config cfg;
  Router router;
  Metrics metrics;
  netpoll::Listener listener;
  netpoll::Interrupt draining;
  int root_fd = -1;
  // A descriptor held in reserve for running out of them (accept_loop):
  // without it a client would wait in the backlog, unanswered, until one
  // frees up.  Opened by listen(), before the port is announced, so the
  // server's descriptor budget is fixed before any client can use it up.
  int reserve = -1;
  std::unique_ptr<AccessLog> access_log;
  Context context;
  ConnEnv env;
  detail::ConnRegistry conns{metrics};
  detail::Rejecter rejecter{metrics};
  std::unique_ptr<detail::Executor> executor;  // last: it uses everything above
};

Server::State::State(Config c, Router r)
    : cfg(std::move(c)),
      router(std::move(r)),
      context{cfg, metrics, -1, std::chrono::steady_clock::now()},
      env{cfg, router, context, metrics, draining} {
  root_fd = ::open(cfg.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) spdlog::warn("--root {}: {}; /static/ will answer 404", cfg.root, std::strerror(errno));
  context.root_fd = root_fd;
  if (!cfg.access_log.empty()) {
    access_log = std::make_unique<AccessLog>(cfg.access_log);
    env.access_log = access_log.get();
  }
  detail::ExecutorDeps deps{env, conns, rejecter};
  switch (cfg.mode) {
    case Mode::goroutine: executor = detail::make_goroutine_executor(deps); break;
    case Mode::thread: executor = detail::make_thread_executor(deps); break;
    case Mode::pool: executor = detail::make_pool_executor(deps); break;
  }
  if (!executor) throw std::invalid_argument("goro::http::Server: unknown mode");
}

Server::State::~State() {
  if (root_fd >= 0) ::close(root_fd);
  if (reserve >= 0) ::close(reserve);
}

Server::Server(Config cfg, Router router) : s_(std::make_unique<State>(std::move(cfg), std::move(router))) {}
Server::~Server() = default;

Router& Server::router() { return s_->router; }
int Server::port() const { return s_->listener.port(); }
void Server::shutdown() { s_->draining.fire(); }
std::string Server::mode_detail() const { return s_->executor->detail(); }
const Metrics& Server::metrics() const { return s_->metrics; }
const Config& Server::config() const { return s_->cfg; }

void Server::listen() {
  const Config& cfg = s_->cfg;
  const char* what = "";
  int e = s_->listener.listen(cfg.bind, cfg.port, cfg.backlog, &what);
  if (e == -EINVAL && std::string_view(what) == "address")
    throw std::runtime_error(fmt::format("--bind {}: not a numeric IPv4 or IPv6 address", cfg.bind));
  if (e < 0) throw std::runtime_error(fmt::format("{} {}:{}: {}", what, cfg.bind, cfg.port, std::strerror(-e)));
  s_->executor->prepare(s_->context);
  if (s_->reserve < 0) s_->reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool Server::serve() {
  State& s = *s_;
  return s.executor->run([&s] { s.accept_loop(); }, [&s] { return s.drain(); });
}

bool Server::run() {
  block_shutdown_signals();  // in case no thread has started yet; documented as the caller's
  if (s_->listener.fd() < 0) listen();
  const Config& cfg = s_->cfg;
  spdlog::info(
      "goro listening on {}:{} mode={} {} max_conns={} max_header_bytes={} max_body_bytes={} "
      "header_timeout={}ms body_timeout={}ms idle_timeout={}ms write_timeout={}ms shutdown_timeout={}ms root={}",
      cfg.bind, port(), to_string(cfg.mode), mode_detail(), cfg.max_conns, cfg.limits.max_header_bytes,
      cfg.limits.max_body_bytes, cfg.header_timeout.count(), cfg.body_timeout.count(), cfg.idle_timeout.count(),
      cfg.write_timeout.count(), cfg.shutdown_timeout.count(), cfg.root);
  spdlog::default_logger()->flush();

  {
    std::lock_guard lk(g_signal_mu);
    g_server = this;
  }
  std::thread([sigs = shutdown_signals()] {
    int sig = 0;
    sigwait(&sigs, &sig);
    {
      std::lock_guard lk(g_signal_mu);
      if (!g_server) return;  // serve() has returned: run()'s caller is on its way out
      spdlog::info("{}: shutting down gracefully (again to exit at once)", sig == SIGINT ? "SIGINT" : "SIGTERM");
      g_server->shutdown();
    }
    sigwait(&sigs, &sig);
    std::lock_guard lk(g_signal_mu);
    if (g_server) {  // else the program is exiting and may have destroyed the logger
      spdlog::warn("second signal: exiting now");
      spdlog::default_logger()->flush();
    }
    std::_Exit(1);
  }).detach();

  // The signal thread must not reach this Server once run() is left, even
  // by an exception from serve().
  struct Unpublish {
    ~Unpublish() {
      std::lock_guard lk(g_signal_mu);
      g_server = nullptr;
    }
  };
  bool graceful;
  {
    Unpublish unpublish;
    graceful = serve();
  }
  spdlog::info("goro stopped ({})", graceful ? "all connections finished" : "some connections closed by force");
  spdlog::default_logger()->flush();
  return graceful;
}

// Inside Executor::run: a goroutine in goroutine mode, else the thread that
// called serve().  Returns once shutdown begins.
void Server::State::accept_loop() {
  auto last_emfile_log = netpoll::Clock::now() - 1h;
  for (;;) {
    netpoll::Conn conn;
    int e = listener.accept(conn, &draining);
    if (e == -ECANCELED) break;
    if (e == -EMFILE || e == -ENFILE || e == -ENOBUFS || e == -ENOMEM) {
      // accept(2) takes a descriptor before it looks for a connection, so
      // a full table fails it with EMFILE even when no client is waiting
      // (the loop accepts until EAGAIN).  Only a waiting client is answered
      // with the reserve; otherwise the reserve stays put, so the
      // descriptors the server holds do not flicker.
      pollfd waiting{listener.fd(), POLLIN, 0};
      bool client_waiting = ::poll(&waiting, 1, 0) > 0;
      // Out of descriptors (or kernel memory): say so at most once a second.
      if (client_waiting && netpoll::Clock::now() - last_emfile_log > 1s) {
        spdlog::warn("accept: {}; answering 503 while it lasts (raise ulimit -n or lower --max-conns)",
                     std::strerror(-e));
        last_emfile_log = netpoll::Clock::now();
      }
      // Give the reserve up to accept the waiting client and tell it 503
      // (as libuv and nginx-style servers do), then take it back.  The
      // client gets an answer instead of a hang; nothing else holds it.
      if ((e == -EMFILE || e == -ENFILE) && reserve >= 0 && client_waiting) {
        ::close(reserve);
        int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          netpoll::Conn refused(fd);
          metrics.accepted.fetch_add(1, std::memory_order_relaxed);
          rejecter.refuse_now(refused, "out of file descriptors");
        }
        reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      // Then back off briefly as Go's net/http does: a descriptor may free
      // up, and a loop of failing accepts would take a core.
      goro::sleep_for(10ms);
      continue;
    }
    if (e < 0) {
      if (draining.fired()) break;
      spdlog::error("accept: {}", std::strerror(-e));
      continue;
    }
    metrics.accepted.fetch_add(1, std::memory_order_relaxed);
    if (metrics.active.load(std::memory_order_relaxed) >= static_cast<int64_t>(cfg.max_conns)) {
      rejecter.reject(conn);
      continue;
    }
    auto c = std::make_unique<netpoll::Conn>(std::move(conn));
    conns.track(c.get());
    executor->start(std::move(c));
  }
  if (reserve >= 0) ::close(std::exchange(reserve, -1));
}

// After the accept loop, on an OS thread (it blocks on the registry).
bool Server::State::drain() {
  listener.close();  // new connections are refused from here on
  spdlog::info("shutting down: {} connection(s) open; waiting up to {} ms", conns.size(),
               cfg.shutdown_timeout.count());
  // Idle connections wake (the interrupt fired) and close; busy ones finish
  // their request; pool workers serve what is queued.
  bool graceful = conns.wait_empty(cfg.shutdown_timeout);
  if (!graceful) {
    spdlog::warn("shutdown timeout: closing {} connection(s) by force", conns.size());
    conns.shutdown_all();
    conns.wait_empty(kForceGrace);
  }
  bool all_closed = conns.size() == 0;
  executor->stop(all_closed);
  rejecter.stop();
  if (access_log) {
    // With every connection released nothing records any more, so every
    // thread's buffer can be taken; otherwise a handler may still record:
    // write what was handed off and exit around the rest.
    if (all_closed) access_log->flush_all();
    else access_log->sync();
    if (uint64_t n = access_log->dropped_lines())
      spdlog::warn("access log: {} line(s) dropped (the log could not keep up)", n);
  }
  return graceful;
}

}  // namespace goro::http
