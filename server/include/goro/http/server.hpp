// goro/http/server.hpp — the listener, the execution modes, shutdown.
//
//   goroutine: goro::run() starts --procs workers, each with its netpoll
//           poller (io_uring or epoll); the accept loop runs as the main
//           goroutine and spawns one goroutine per connection.
//   thread: the acceptor starts one OS thread per connection (detached); the
//           thread runs serve_connection and exits with the connection.
//   pool:   --threads workers take accepted connections from a FIFO queue
//           and serve each until it closes.
//
// Graceful shutdown (shutdown(), e.g. on SIGTERM): the listener closes, idle
// connections close, connections mid-request finish that request with
// "Connection: close"; serve() returns when none are left or, after
// --shutdown-timeout, shuts the rest down by force.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "goro/http/access_log.hpp"
#include "goro/http/config.hpp"
#include "goro/http/connection.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/router.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/netpoll/listener.hpp"
#include "goro/netpoll/poller.hpp"

namespace goro::http {

class Server {
 public:
  explicit Server(Config cfg, Router router = default_router());
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens.  Throws std::runtime_error saying what failed.
  void listen();
  int port() const { return listener_.port(); }

  // Accepts and serves until shutdown() and the drain are done.  Returns
  // true if every connection finished before --shutdown-timeout.
  bool serve();

  // Begins graceful shutdown.  Any thread; not from a signal handler.
  void shutdown() { draining_.fire(); }

  // What the start-up line says about the mode: "procs=2 poller=io_uring
  // (...)", "threads=64" or "".  Valid after listen().
  std::string mode_detail() const;

  const Metrics& metrics() const { return metrics_; }
  const Config& config() const { return cfg_; }

 private:
  // Goroutine mode: a connection between requests is a Session parked in
  // the poller (Conn::when_readable) with no goroutine; each readable event
  // spawns one that serves what arrived and exits when the connection idles.
  struct Session final : netpoll::Callback {
    Server* server;
    std::unique_ptr<netpoll::Conn> conn;
    bool first = true;
    std::unique_ptr<char[]> buf;  // bytes the poller read (io_uring), until a goroutine takes them
    size_t buffered = 0;
    void on_ready(int res, std::span<const char> data) override;
  };
  void park_session(Session* s);
  void run_session(Session* s);
  void accept_loop();
  void start(std::unique_ptr<netpoll::Conn> c);
  bool serve_goroutines();
  void track(netpoll::Conn* c);
  void serve_and_release(std::unique_ptr<netpoll::Conn> c);
  void release(std::unique_ptr<netpoll::Conn> c);  // untracks and closes
  void reject(netpoll::Conn& c);
  void pool_worker();
  void linger_loop();
  bool drain();

  Config cfg_;
  Router router_;
  Metrics metrics_;
  netpoll::Listener listener_;
  netpoll::Interrupt draining_;
  netpoll::PollerChoice poller_{netpoll::PollerKind::automatic, false, "", ""};
  int root_fd_ = -1;
  std::unique_ptr<AccessLog> access_log_;
  Context context_;
  ConnEnv env_;

  // Every connection being served or queued, so shutdown can reach them.
  // Guarded by mu_.  A Conn is open for as long as it is in the set.
  std::mutex mu_;
  std::condition_variable all_done_;  // signalled when conns_ becomes empty
  std::unordered_set<netpoll::Conn*> conns_;

  // Pool mode.  queue_, idle_workers_ and stop_ guarded by mu_; starved_ is
  // queue_.size() - idle_workers_ (at least 0), published for lock-free reads
  // by the connection loop.
  std::condition_variable work_;
  std::deque<std::unique_ptr<netpoll::Conn>> queue_;
  size_t idle_workers_ = 0;
  std::atomic<size_t> starved_{0};
  void update_starved() {
    starved_.store(queue_.size() > idle_workers_ ? queue_.size() - idle_workers_ : 0, std::memory_order_relaxed);
  }
  bool stop_ = false;
  std::vector<std::thread> workers_;

  // Rejected (503) connections wait here, write side shut, while one thread
  // reads and discards what their clients still send: closing with unread
  // data would send a RST that can destroy the 503 before it is read.
  // Guarded by linger_mu_.
  struct Lingering {
    netpoll::Conn conn;
    netpoll::Deadline until;
  };
  std::mutex linger_mu_;
  std::vector<Lingering> lingering_;
  std::thread linger_thread_;
  bool linger_stop_ = false;
};

}  // namespace goro::http
