// --mode=thread: one OS thread per connection, the classic model.  The
// accept loop (on the thread that called Server::serve) starts a detached
// std::thread for each connection; it runs serve_connection with blocking
// syscalls (netpoll on an OS thread: poll(2) with deadlines) and exits with
// the connection.  No state is shared between connection threads beyond the
// ConnRegistry (its own lock) and the ConnEnv (read-only).
#include <spdlog/spdlog.h>

#include <system_error>
#include <thread>

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
    netpoll::Conn* raw = c.release();  // the thread owns it once it starts
    auto accepted = netpoll::Clock::now();
    try {
      std::thread([this, raw, accepted] {
        serve_and_release(deps_.env, deps_.conns, std::unique_ptr<netpoll::Conn>(raw), accepted);
      }).detach();
    } catch (const std::system_error& err) {
      // The thread limit (or memory for its stack) ran out: this is the
      // cost thread-per-connection pays.  Answer 503 instead.
      spdlog::warn("cannot start a thread for a connection: {}", err.what());
      std::unique_ptr<netpoll::Conn> owned(raw);
      deps_.conns.untrack(raw);
      deps_.rejecter.reject(*owned);
    }
  }

  // Connection threads are detached: a graceful drain ends when they have
  // all released their connections; after a forced close the process exits
  // around any still inside a handler.

 private:
  ExecutorDeps deps_;
};

}  // namespace

std::unique_ptr<Executor> make_thread_executor(const ExecutorDeps& deps) {
  return std::make_unique<ThreadExecutor>(deps);
}

}  // namespace goro::http::detail
