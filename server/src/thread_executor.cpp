// --mode=thread: one OS thread per connection, the classic model.  The
// accept loop (on the thread that called Server::serve) starts a std::thread
// for each connection; it runs serve_connection with blocking syscalls
// (netpoll on an OS thread: poll(2) with deadlines) and ends with the
// connection.  No state is shared between connection threads beyond the
// ConnRegistry (its own lock), the ConnEnv (read-only) and the executor's
// list of threads below.
//
// The threads stay joinable.  A thread that has released its connection has
// not yet exited: the C library still runs its thread-exit destructors,
// which free what libraries keep per thread (libpq's OpenSSL keeps random
// generators per thread once it has authenticated a database connection).
// A process that exited in that window would lose them, so the drain joins
// every thread before it returns; and each start() joins the threads that
// finished since the last one, so a long-running server holds no dead
// threads' stacks.
#include <spdlog/spdlog.h>

#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "executor.hpp"

namespace goro::http::detail {

namespace {

class ThreadExecutor final : public Executor {
 public:
  explicit ThreadExecutor(const ExecutorDeps& deps) : deps_(deps) {}

  bool run(const std::function<void()>& accept_loop, const std::function<bool()>& drain) override {
    accept_loop();
    return drain();
  }

  void start(std::unique_ptr<netpoll::Conn> c) override {
    reap();
    netpoll::Conn* raw = c.release();  // the thread owns it once it starts
    auto accepted = netpoll::Clock::now();
    try {
      // Under mu_, so the thread is in running_ before it can report
      // itself finished.
      std::lock_guard l(mu_);
      std::thread t([this, raw, accepted] {
        serve_and_release(deps_.env, deps_.conns, std::unique_ptr<netpoll::Conn>(raw), accepted);
        std::lock_guard l(mu_);
        finished_.push_back(std::this_thread::get_id());
      });
      auto id = t.get_id();
      running_.emplace(id, std::move(t));
    } catch (const std::system_error& err) {
      // The thread limit (or memory for its stack) ran out: this is the
      // cost thread-per-connection pays.  Answer 503 instead.
      spdlog::warn("cannot start a thread for a connection: {}", err.what());
      std::unique_ptr<netpoll::Conn> owned(raw);
      deps_.conns.untrack(raw);
      deps_.rejecter.reject(*owned);
    }
  }

  // all_closed: every thread has released its connection, so each is at
  // most finishing its exit; join them all.  Otherwise a handler still runs
  // (it cannot be interrupted) and the process exits around it.
  void stop(bool all_closed) override {
    std::unordered_map<std::thread::id, std::thread> all;
    {
      std::lock_guard l(mu_);
      all.swap(running_);
      finished_.clear();
    }
    for (auto& [id, t] : all) {
      if (all_closed) t.join();
      else t.detach();
    }
  }

 private:
  // Joins the threads that have finished: each has only its exit left, so
  // the join does not wait on a connection.
  void reap() {
    std::vector<std::thread> done;
    {
      std::lock_guard l(mu_);
      for (auto id : finished_) {
        // The id stays unique until its thread is joined, below.
        auto it = running_.find(id);
        done.push_back(std::move(it->second));
        running_.erase(it);
      }
      finished_.clear();
    }
    for (auto& t : done) t.join();
  }

  ExecutorDeps deps_;
  std::mutex mu_;                                           // guards the two below
  std::unordered_map<std::thread::id, std::thread> running_;  // every thread not yet joined
  std::vector<std::thread::id> finished_;                   // those that released their connection
};

}  // namespace

std::unique_ptr<Executor> make_thread_executor(const ExecutorDeps& deps) {
  return std::make_unique<ThreadExecutor>(deps);
}

}  // namespace goro::http::detail
