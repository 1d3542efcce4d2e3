// --mode=pool: --threads OS threads and a FIFO of accepted connections (how
// Tomcat-style servers cap thread cost).  The accept loop pushes; each
// worker pops one connection and serves it until it closes.  While queued
// connections have no idle worker to take them ("starved"), the connection
// loop closes kept-alive connections after their response and gives up an
// idle one's thread (see ConnEnv::starved), so kept-alive clients cannot hold
// a fixed pool forever.
//
// Invariants: queue_, idle_ and stop_ are guarded by mu_; starved_ is
// max(queue_.size() - idle_, 0), stored under mu_ whenever either changes and
// read lock-free (relaxed) by the connection loop; workers_ is touched only
// by run() and stop(), on the thread that runs the server.  A queued Conn is
// already tracked in the ConnRegistry (shutdown can reach it).
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <thread>
#include <vector>

#include "executor.hpp"

namespace goro::http::detail {

namespace {

class PoolExecutor final : public Executor {
 public:
  explicit PoolExecutor(const ExecutorDeps& deps) : deps_(deps), env_(deps.env) { env_.starved = &starved_; }

  std::string detail() const override { return fmt::format("threads={}", deps_.env.config.threads); }

  bool run(const std::function<void()>& accept_loop, const std::function<bool()>& drain) override {
    for (int i = 0; i < deps_.env.config.threads; ++i) workers_.emplace_back([this] { work(); });
    accept_loop();
    return drain();
  }

  void start(std::unique_ptr<netpoll::Conn> c) override {
    std::lock_guard lk(mu_);
    queue_.push_back({std::move(c), netpoll::Clock::now()});
    update_starved();
    work_.notify_one();
  }

  void stop(bool all_closed) override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    work_.notify_all();
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
  // One pool thread: serves queued connections until stop() (the drain has
  // emptied the registry, so the queue is empty too).
  void work() {
    for (;;) {
      Queued q;
      {
        std::unique_lock lk(mu_);
        ++idle_;
        update_starved();
        work_.wait(lk, [&] { return !queue_.empty() || stop_; });
        --idle_;
        if (queue_.empty()) return update_starved();
        q = std::move(queue_.front());
        queue_.pop_front();
        update_starved();
      }
      // The header deadline runs from accept, not from here: time spent in
      // the queue counts (the kernel buffers what the client sends), so a
      // slowloris gets no more time when the pool is busy.
      serve_and_release(env_, deps_.conns, std::move(q.conn), q.accepted);
    }
  }

  void update_starved() {  // under mu_
    starved_.store(queue_.size() > idle_ ? queue_.size() - idle_ : 0, std::memory_order_relaxed);
  }

  ExecutorDeps deps_;
  ConnEnv env_;  // deps_.env plus starved_
  std::mutex mu_;
  std::condition_variable work_;  // queue_ grew, or stop_
  struct Queued {
    std::unique_ptr<netpoll::Conn> conn;
    netpoll::Clock::time_point accepted;
  };
  std::deque<Queued> queue_;
  size_t idle_ = 0;  // workers waiting on work_
  std::atomic<size_t> starved_{0};
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_pool_executor(const ExecutorDeps& deps) {
  return std::make_unique<PoolExecutor>(deps);
}

}  // namespace goro::http::detail
