// --mode=pool: --threads OS threads, a FIFO of connections that want a
// thread, and an idle set watched by one poller thread (how Tomcat's NIO
// connector and Jetty cap thread cost without closing kept-alive clients).
//
// The accept loop pushes new connections; each worker pops one and serves
// it.  While queued connections have no idle worker to take them
// ("starved"), a kept-alive connection with no request buffered gives its
// thread up (serve_connection returns ConnEnd::idle, see ConnEnv::starved):
// the worker parks it in the idle set — an epoll instance, one EPOLLONESHOT
// registration per connection — and takes the next queued one.  The poller
// thread queues a parked connection again as soon as it is readable (the
// request's bytes wait in the kernel; the worker reads at once, `resumed`),
// and closes it quietly when it stays idle past --idle-timeout.  Without
// starvation nothing changes: a worker waits on its idle connection itself,
// which costs no more than before (no epoll round trip per request).
//
// Shutdown: the idle set also watches the draining interrupt's eventfd.
// When it fires, the poller hands every parked connection to the queue (a
// worker then serves a request that already arrived, or closes: the same
// path as an idle connection in any mode) and exits; later parks go straight
// to the queue.  Every connection stays tracked in the ConnRegistry while
// parked, so the drain counts and, after its timeout, shuts them down.
//
// Invariants:
//   * queue_, idle_ and stop_ are guarded by mu_; starved_ is
//     max(queue_.size() - idle_, 0), stored under mu_ whenever either
//     changes and read lock-free (relaxed) by the connection loop.  A worker
//     counts as idle from its creation (run() sets idle_ before starting
//     them), so nothing starves at start-up while threads are still being
//     created.
//   * parked_, deadlines_, closing_ and stop_idle_ are guarded by im_.  A
//     connection is owned by exactly one of: the queue, a worker, parked_.
//     Its fd is armed in epfd_ only while it is in parked_ (EPOLLONESHOT
//     disarms it at the event; it stays registered, disarmed, until the fd
//     closes); deadlines_ holds exactly one (idle deadline, fd) per parked_
//     entry.  Only the poller thread takes a connection out of parked_.
//   * workers_ and idler_ are touched only by run() and stop(), on the
//     thread that runs the server.  A queued or parked Conn is tracked in
//     the ConnRegistry (shutdown can reach it).
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "executor.hpp"

namespace goro::http::detail {

namespace {

class PoolExecutor final : public Executor {
 public:
  explicit PoolExecutor(const ExecutorDeps& deps) : deps_(deps), env_(deps.env) { env_.starved = &starved_; }

  ~PoolExecutor() override {
    if (epfd_ >= 0) ::close(epfd_);
    if (wake_ >= 0) ::close(wake_);
  }

  void prepare(Context& ctx) override {
    (void)ctx;
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::runtime_error(fmt::format("pool: epoll_create1: {}", std::strerror(errno)));
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) throw std::runtime_error(fmt::format("pool: eventfd: {}", std::strerror(errno)));
    // Level-triggered: the wake eventfd is drained on each wake, the
    // draining one stays readable once fired (the poller exits on it).
    for (int fd : {wake_, deps_.env.draining.fd()}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0)
        throw std::runtime_error(fmt::format("pool: epoll_ctl: {}", std::strerror(errno)));
    }
  }

  std::string detail() const override { return fmt::format("threads={}", deps_.env.config.threads); }

  bool run(const std::function<void()>& accept_loop, const std::function<bool()>& drain) override {
    {
      // Idle from creation: a thread about to start takes queued work as
      // soon as it runs, so a connection accepted meanwhile is not starved.
      std::lock_guard lk(mu_);
      idle_ = static_cast<size_t>(deps_.env.config.threads);
      update_starved();
    }
    for (int i = 0; i < deps_.env.config.threads; ++i) workers_.emplace_back([this] { work(); });
    idler_ = std::thread([this] { watch_idle(); });
    accept_loop();
    return drain();
  }

  void start(std::unique_ptr<netpoll::Conn> c) override {
    enqueue({.conn = std::move(c), .accepted = netpoll::Clock::now()});
  }

  void stop(bool all_closed) override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    work_.notify_all();
    {
      std::lock_guard lk(im_);
      stop_idle_ = true;
    }
    wake_idler();
    // The poller never runs a handler: it ends either way (it has usually
    // ended already, when the drain began).
    if (idler_.joinable()) idler_.join();
    if (all_closed) {
      for (auto& t : workers_) t.join();
    } else {
      // A handler still runs (it cannot be interrupted); the process exits
      // around it.
      for (auto& t : workers_) t.detach();
    }
    workers_.clear();
  }

 private:
  // A connection that wants a thread.
  struct Queued {
    std::unique_ptr<netpoll::Conn> conn;
    netpoll::Clock::time_point accepted{};  // new: the header deadline runs from here
    bool first = true;                      // no request served yet
    bool resumed = false;                   // from the idle set, readable: read at once
    netpoll::Clock::time_point ready_at{};  // resumed: when it became readable
  };
  struct Parked {
    std::unique_ptr<netpoll::Conn> conn;
    netpoll::Deadline until;  // its idle deadline
  };

  void enqueue(Queued q) {
    std::lock_guard lk(mu_);
    queue_.push_back(std::move(q));
    update_starved();
    work_.notify_one();
  }

  // One pool thread: serves queued connections until stop() (the drain has
  // emptied the registry, so the queue is empty too).
  void work() {
    for (bool counted = true;; counted = false) {  // counted: idle_ already includes this thread
      Queued q;
      {
        std::unique_lock lk(mu_);
        if (!counted) {
          ++idle_;
          update_starved();
        }
        work_.wait(lk, [&] { return !queue_.empty() || stop_; });
        --idle_;
        if (queue_.empty()) return update_starved();
        q = std::move(queue_.front());
        queue_.pop_front();
        update_starved();
      }
      // The header deadline of a new connection runs from accept, not from
      // here: time spent in the queue counts (the kernel buffers what the
      // client sends), so a slowloris gets no more time when the pool is
      // busy.  A resumed one's runs from when the idle set saw it readable.
      netpoll::Deadline idle_until = netpoll::kNoDeadline;
      ConnEnd end = serve_connection(*q.conn, env_,
                                     {.resumed = q.resumed,
                                      .first = q.first,
                                      .accepted = q.accepted,
                                      .ready_at = q.ready_at,
                                      .idle_until = &idle_until});
      if (end == ConnEnd::idle) park(std::move(q.conn), idle_until);
      else deps_.conns.release(std::move(q.conn));
    }
  }

  // A worker gives an idle kept-alive connection to the idle set.
  void park(std::unique_ptr<netpoll::Conn> c, netpoll::Deadline until) {
    std::unique_lock lk(im_);
    if (closing_) {
      // Shutting down: the poller is gone.  A worker closes it (or serves a
      // request that arrived) as the drain expects.
      lk.unlock();
      enqueue({.conn = std::move(c), .first = false});
      return;
    }
    int fd = c->fd();
    bool earliest = deadlines_.empty() || until < deadlines_.begin()->first;
    deadlines_.insert({until, fd});
    parked_.emplace(fd, Parked{std::move(c), until});
    // Registered before, by an earlier park (ONESHOT left it disarmed):
    // MOD re-arms it.  First park: ADD.  Under im_, so the poller, which
    // takes im_ for every event, always finds the entry.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fd;
    int r = ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
    if (r < 0 && errno == ENOENT) r = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    if (r < 0) {
      // The kernel is out of memory or epoll watches: the connection cannot
      // be watched, and holding a thread for it is what starvation forbids.
      // Close it, like any connection the server lacks resources for.
      int e = errno;
      deadlines_.erase({until, fd});
      auto node = parked_.extract(fd);
      lk.unlock();
      spdlog::warn("pool: cannot watch an idle connection ({}); closing it", std::strerror(e));
      deps_.conns.release(std::move(node.mapped().conn));
      return;
    }
    lk.unlock();
    if (earliest) wake_idler();  // the poller's current wait may end too late
  }

  void wake_idler() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);  // EAGAIN: already pending
  }

  // The poller thread: queues readable parked connections, closes expired
  // ones, and on shutdown hands all of them back to the workers.
  void watch_idle() {
    constexpr int kEvents = 64;
    epoll_event evs[kEvents];
    std::vector<Queued> ready;
    std::vector<std::unique_ptr<netpoll::Conn>> expired;
    for (;;) {
      int timeout_ms = -1;
      {
        std::lock_guard lk(im_);
        if (stop_idle_) return;
        if (!deadlines_.empty()) {
          auto left = deadlines_.begin()->first - netpoll::Clock::now();
          // Rounded up: waking before the deadline would only wait again.
          timeout_ms = left <= netpoll::Clock::duration::zero()
                           ? 0
                           : static_cast<int>(std::min<int64_t>(
                                 std::chrono::ceil<std::chrono::milliseconds>(left).count(), 60'000));
        }
      }
      int n = ::epoll_wait(epfd_, evs, kEvents, timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        // Cannot happen with a valid epfd_; say so rather than spin.
        spdlog::error("pool: epoll_wait: {}; idle connections are no longer watched", std::strerror(errno));
        return;
      }
      bool draining = false;
      {
        std::lock_guard lk(im_);
        auto now = netpoll::Clock::now();
        for (int i = 0; i < n; ++i) {
          int fd = evs[i].data.fd;
          if (fd == wake_) {
            uint64_t v;
            [[maybe_unused]] ssize_t r = ::read(wake_, &v, sizeof v);
            continue;
          }
          if (fd == deps_.env.draining.fd()) {
            draining = true;
            continue;
          }
          auto node = parked_.extract(fd);
          if (node.empty()) continue;  // not armed without an entry: cannot happen
          deadlines_.erase({node.mapped().until, fd});
          // Readable, or hung up / failed: the worker's read says which.
          ready.push_back(
              {.conn = std::move(node.mapped().conn), .first = false, .resumed = true, .ready_at = now});
        }
        if (draining) {
          // Nothing is lost: a worker serves a request already in the
          // socket (with Connection: close) or closes it (see
          // serve_connection on -ECANCELED).
          closing_ = true;
          for (auto& [fd, p] : parked_) ready.push_back({.conn = std::move(p.conn), .first = false});
          parked_.clear();
          deadlines_.clear();
        } else {
          while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
            int fd = deadlines_.begin()->second;
            deadlines_.erase(deadlines_.begin());
            auto node = parked_.extract(fd);
            // Bytes that arrived with the deadline are a request, not idleness.
            if (node.mapped().conn->readable_now())
              ready.push_back(
                  {.conn = std::move(node.mapped().conn), .first = false, .resumed = true, .ready_at = now});
            else
              expired.push_back(std::move(node.mapped().conn));
          }
        }
      }
      for (auto& c : expired) {
        // Idle too long: close without a word, as in every mode.
        deps_.env.metrics.timeouts.fetch_add(1, std::memory_order_relaxed);
        deps_.conns.release(std::move(c));
      }
      expired.clear();
      if (!ready.empty()) {
        std::lock_guard lk(mu_);
        for (auto& q : ready) queue_.push_back(std::move(q));
        update_starved();
        if (ready.size() == 1) work_.notify_one();
        else work_.notify_all();
      }
      ready.clear();
      if (draining) return;
    }
  }

  void update_starved() {  // under mu_
    starved_.store(queue_.size() > idle_ ? queue_.size() - idle_ : 0, std::memory_order_relaxed);
  }

  ExecutorDeps deps_;
  ConnEnv env_;  // deps_.env plus starved_
  std::mutex mu_;
  std::condition_variable work_;  // queue_ grew, or stop_
  std::deque<Queued> queue_;
  size_t idle_ = 0;  // workers waiting on work_ (or not yet started)
  std::atomic<size_t> starved_{0};
  bool stop_ = false;
  std::vector<std::thread> workers_;

  // The idle set.
  int epfd_ = -1;
  int wake_ = -1;  // eventfd: a park with an earlier deadline, or stop()
  std::mutex im_;
  std::unordered_map<int, Parked> parked_;               // by fd
  std::set<std::pair<netpoll::Deadline, int>> deadlines_;  // (until, fd), earliest first
  bool closing_ = false;    // the drain began: parks go to the queue
  bool stop_idle_ = false;  // stop(): the poller exits
  std::thread idler_;
};

}  // namespace

std::unique_ptr<Executor> make_pool_executor(const ExecutorDeps& deps) {
  return std::make_unique<PoolExecutor>(deps);
}

}  // namespace goro::http::detail
