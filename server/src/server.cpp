#include "goro/http/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "goro/runtime.hpp"
#include "goro/time.hpp"

namespace goro::http {

namespace {

using namespace std::chrono_literals;

// After a forced close, how long serve() waits for handlers to notice.
constexpr auto kForceGrace = 2s;

// A rejected client gets this long to read its 503 and close.  Beyond
// kMaxLingering waiting at once (a flood), new rejects close at once.
constexpr auto kRejectLinger = 1s;
constexpr size_t kMaxLingering = 4096;

}  // namespace

std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::goroutine: return "goroutine";
    case Mode::thread: return "thread";
    default: return "pool";
  }
}

Server::Server(Config cfg, Router router)
    : cfg_(std::move(cfg)),
      router_(std::move(router)),
      context_{cfg_, metrics_, -1, std::chrono::steady_clock::now()},
      env_{cfg_, router_, context_, metrics_, draining_} {
  root_fd_ = ::open(cfg_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) spdlog::warn("--root {}: {}; /static/ will answer 404", cfg_.root, std::strerror(errno));
  context_.root_fd = root_fd_;
  if (!cfg_.access_log.empty()) {
    access_log_ = std::make_unique<AccessLog>(cfg_.access_log);
    env_.access_log = access_log_.get();
  }
  if (cfg_.mode == Mode::pool) env_.starved = &starved_;
}

Server::~Server() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

void Server::listen() {
  const char* what = "";
  int e = listener_.listen(cfg_.bind, cfg_.port, cfg_.backlog, &what);
  if (e == -EINVAL && std::string_view(what) == "address")
    throw std::runtime_error(fmt::format("--bind {}: not a numeric IPv4 or IPv6 address", cfg_.bind));
  if (e < 0) throw std::runtime_error(fmt::format("{} {}:{}: {}", what, cfg_.bind, cfg_.port, std::strerror(-e)));
  if (cfg_.mode == Mode::goroutine) {
    poller_ = netpoll::choose_poller(cfg_.poller);
    context_.poller = poller_.kind;
    if (cfg_.poller == netpoll::PollerKind::uring && !poller_.uring_ok)
      throw std::runtime_error("--poller=uring: io_uring is unavailable: " + poller_.why_not);
  }
}

std::string Server::mode_detail() const {
  switch (cfg_.mode) {
    case Mode::goroutine:
      return fmt::format("procs={} poller={}", cfg_.procs ? std::to_string(cfg_.procs) : std::string("auto"),
                         poller_.detail);
    case Mode::pool: return fmt::format("threads={}", cfg_.threads);
    default: return "";
  }
}

void Server::track(netpoll::Conn* c) {
  std::lock_guard lk(mu_);
  conns_.insert(c);
  metrics_.active.fetch_add(1, std::memory_order_relaxed);
}

void Server::serve_and_release(std::unique_ptr<netpoll::Conn> c) {
  serve_connection(*c, env_);
  release(std::move(c));
}

void Server::release(std::unique_ptr<netpoll::Conn> c) {
  std::lock_guard lk(mu_);
  conns_.erase(c.get());
  c->close();  // under mu_: drain() may be calling shutdown() on it
  metrics_.active.fetch_sub(1, std::memory_order_relaxed);
  if (conns_.empty()) all_done_.notify_all();
}

void Server::reject(netpoll::Conn& c) {
  metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
  // Sent without reading the request.  Never block the acceptor: the 503
  // fits in an empty socket buffer.
  Response r = Response::error(503, "too many connections");
  r.headers.push_back({"Retry-After", "1"});
  fmt::memory_buffer out;
  write_head(out, r, /*keep_alive=*/false);
  out.append(r.body);
  c.write_all({out.data(), out.size()}, netpoll::Clock::now());
  ::shutdown(c.fd(), SHUT_WR);
  std::lock_guard lk(linger_mu_);
  if (lingering_.size() >= kMaxLingering) return c.close();
  lingering_.push_back({std::move(c), netpoll::Clock::now() + kRejectLinger});
  if (!linger_thread_.joinable()) linger_thread_ = std::thread([this] { linger_loop(); });
}

void Server::linger_loop() {
  std::vector<pollfd> pfds;
  for (;;) {
    {
      std::lock_guard lk(linger_mu_);
      auto now = netpoll::Clock::now();
      char sink[4096];
      // Drop those that reached EOF, failed, or ran out of time.
      std::erase_if(lingering_, [&](Lingering& l) {
        ssize_t n;
        while ((n = l.conn.read(sink, now)) > 0) {
        }
        return n == 0 || (n < 0 && n != -ETIMEDOUT) || now >= l.until;
      });
      if (linger_stop_ && lingering_.empty()) return;
      pfds.clear();
      for (auto& l : lingering_) pfds.push_back({l.conn.fd(), POLLIN, 0});
    }
    // 50 ms: new arrivals wait at most this long to be polled; the cost is a
    // wakeup 20 times a second while anything lingers.
    if (pfds.empty()) std::this_thread::sleep_for(50ms);
    else ::poll(pfds.data(), pfds.size(), 50);
  }
}

void Server::pool_worker() {
  for (;;) {
    std::unique_ptr<netpoll::Conn> c;
    {
      std::unique_lock lk(mu_);
      ++idle_workers_;
      update_starved();
      work_.wait(lk, [&] { return !queue_.empty() || stop_; });
      --idle_workers_;
      if (queue_.empty()) return update_starved();
      c = std::move(queue_.front());
      queue_.pop_front();
      update_starved();
    }
    serve_and_release(std::move(c));
  }
}

bool Server::serve() {
  if (cfg_.mode == Mode::goroutine) return serve_goroutines();
  if (cfg_.mode == Mode::pool)
    for (int i = 0; i < cfg_.threads; ++i) workers_.emplace_back([this] { pool_worker(); });
  accept_loop();
  return drain();
}

bool Server::serve_goroutines() {
  bool graceful = false;
  goro::Options opts;
  opts.procs = cfg_.procs;
  opts.poller = netpoll::poller_factory(poller_.kind);
  goro::run(
      [&] {
        accept_loop();
        // drain() waits on a condition variable: off the workers.
        graceful = goro::blocking([this] { return drain(); });
      },
      std::move(opts));
  return graceful;
}

// Hands an accepted, tracked connection to the mode's executor.
void Server::start(std::unique_ptr<netpoll::Conn> c) {
  switch (cfg_.mode) {
    case Mode::goroutine: {
      // No goroutine until the first request's bytes arrive.
      auto* s = new Session;
      s->server = this;
      s->conn = std::move(c);
      park_session(s);
      return;
    }
    case Mode::thread: {
      netpoll::Conn* raw = c.release();  // the thread owns it once it starts
      try {
        std::thread([this, raw] { serve_and_release(std::unique_ptr<netpoll::Conn>(raw)); }).detach();
      } catch (const std::system_error& err) {
        // The thread limit (or memory for its stack) ran out: this is the
        // cost thread-per-connection pays.  Answer 503 instead.
        spdlog::warn("cannot start a thread for a connection: {}", err.what());
        std::unique_ptr<netpoll::Conn> owned(raw);
        {
          std::lock_guard lk(mu_);
          conns_.erase(raw);
          metrics_.active.fetch_sub(1, std::memory_order_relaxed);
        }
        reject(*owned);
      }
      return;
    }
    case Mode::pool: {
      std::lock_guard lk(mu_);
      queue_.push_back(std::move(c));
      update_starved();
      work_.notify_one();
      return;
    }
  }
}

void Server::park_session(Session* s) {
  netpoll::Deadline d = netpoll::deadline_in(s->first ? cfg_.header_timeout : cfg_.idle_timeout);
  if (!s->conn->when_readable(d, &draining_, s)) {
    // Not on a netpoll worker (cannot happen in goroutine mode): serve with a
    // parked goroutine instead.
    goro::go([this, s] {
      std::unique_ptr<Session> owned(s);
      serve_and_release(std::move(owned->conn));
    });
  }
}

// On the worker that reaped the wait: never blocks, only spawns.
void Server::Session::on_ready(int res, std::span<const char> data) {
  Server* srv = server;
  if (!data.empty()) {
    // The poller's buffer is lent for this call only.  The bytes are the
    // client's even when shutdown began meanwhile (-ECANCELED): serve them.
    buf = std::make_unique_for_overwrite<char[]>(data.size());
    buffered = data.size();
    std::memcpy(buf.get(), data.data(), buffered);
  }
  if (res == -ETIMEDOUT) srv->metrics_.timeouts.fetch_add(1, std::memory_order_relaxed);
  if (res < 0 && res != -ECANCELED) {
    // Idle too long (or the socket failed): close without a word.
    goro::go([srv, this] {
      std::unique_ptr<Session> owned(this);
      srv->release(std::move(owned->conn));
    });
    return;
  }
  // Readable, or shutting down (serve_connection then serves a request that
  // already arrived, or closes).
  goro::go([srv, this] { srv->run_session(this); });
}

void Server::run_session(Session* s) {
  ConnEnd end = serve_connection(*s->conn, env_,
                                 {.detach_when_idle = true,
                                  .resumed = true,
                                  .first = s->first,
                                  .buf = std::move(s->buf),
                                  .buffered = std::exchange(s->buffered, 0)});
  s->first = false;
  // Re-arming the session's wait: netpoll decides where it lands
  // (Conn::when_readable may move this goroutine to a busier P first).
  if (end == ConnEnd::idle) return park_session(s);
  std::unique_ptr<Session> owned(s);
  release(std::move(owned->conn));
}

void Server::accept_loop() {
  auto last_emfile_log = netpoll::Clock::now() - 1h;
  for (;;) {
    netpoll::Conn conn;
    int e = listener_.accept(conn, &draining_);
    if (e == -ECANCELED) break;
    if (e == -EMFILE || e == -ENFILE || e == -ENOBUFS || e == -ENOMEM) {
      // Out of descriptors: back off briefly as Go's net/http does, and say
      // so at most once a second.
      if (netpoll::Clock::now() - last_emfile_log > 1s) {
        spdlog::warn("accept: {}; retrying (raise ulimit -n or lower --max-conns)", std::strerror(-e));
        last_emfile_log = netpoll::Clock::now();
      }
      goro::sleep_for(10ms);
      continue;
    }
    if (e < 0) {
      if (draining_.fired()) break;
      spdlog::error("accept: {}", std::strerror(-e));
      continue;
    }
    metrics_.accepted.fetch_add(1, std::memory_order_relaxed);
    if (metrics_.active.load(std::memory_order_relaxed) >= static_cast<int64_t>(cfg_.max_conns)) {
      reject(conn);
      continue;
    }
    auto c = std::make_unique<netpoll::Conn>(std::move(conn));
    track(c.get());
    start(std::move(c));
  }
}

bool Server::drain() {
  listener_.close();  // new connections are refused from here on
  size_t left;
  {
    std::lock_guard lk(mu_);
    left = conns_.size();
  }
  spdlog::info("shutting down: {} connection(s) open; waiting up to {} ms", left, cfg_.shutdown_timeout.count());
  work_.notify_all();  // pool workers serve what is queued, then idle closes

  std::unique_lock lk(mu_);
  bool graceful = all_done_.wait_for(lk, cfg_.shutdown_timeout, [&] { return conns_.empty(); });
  if (!graceful) {
    spdlog::warn("shutdown timeout: closing {} connection(s) by force", conns_.size());
    for (netpoll::Conn* c : conns_) c->shutdown();
    all_done_.wait_for(lk, kForceGrace, [&] { return conns_.empty(); });
  }
  bool all_closed = conns_.empty();
  stop_ = true;
  work_.notify_all();
  lk.unlock();
  if (all_closed) {
    for (auto& t : workers_) t.join();
  } else {
    // A handler still runs (it cannot be interrupted); the process exits
    // around it.
    for (auto& t : workers_) t.detach();
  }
  workers_.clear();
  {
    std::lock_guard lk2(linger_mu_);
    linger_stop_ = true;
  }
  if (linger_thread_.joinable()) linger_thread_.join();
  if (access_log_) access_log_->flush_all();
  return graceful;
}

}  // namespace goro::http
