/// \file
/// A listening TCP socket.
#pragma once

#include <cstdint>
#include <string>

#include "goro/netpoll/conn.hpp"

namespace goro::netpoll {

class Interrupt;
namespace detail {
struct AcceptQueue;  // netpoll/src/accept_queue.hpp
}

/// A listening TCP socket whose accept() parks a goroutine (or blocks a
/// thread) until a connection arrives.  Closed on destruction.
class Listener {
 public:
  /// Not listening.
  Listener() = default;
  /// Takes o's socket (and its pending accepts); o is left closed.
  Listener(Listener&& o) noexcept : fd_(o.fd_), port_(o.port_), queue_(o.queue_), multishot_(o.multishot_) {
    o.fd_ = -1;
    o.queue_ = nullptr;
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() { close(); }

  /// Binds host:port (numeric address; port 0 picks a free one) with
  /// SO_REUSEADDR and listens.  Returns 0 or -errno; `what` names the step
  /// that failed ("bind", "listen", ...) for the error message.
  int listen(const std::string& host, int port, int backlog, const char** what);

  /// Waits for a connection.  Returns 0 and fills `out` (non-blocking, no
  /// Nagle), -ECANCELED when `intr` fires, or -errno (EMFILE, ...).  In a
  /// goroutine on io_uring this takes connections from one multishot ACCEPT
  /// (no syscall per connection); elsewhere accept4 and a readiness wait.
  int accept(Conn& out, const Interrupt* intr);

  /// The port bound (the one picked, when listen() was given 0).
  int port() const { return port_; }
  /// The listening socket, or -1.
  int fd() const { return fd_; }
  /// Stops listening and closes the socket (idempotent).
  void close();

 private:
  int fd_ = -1;
  int port_ = 0;
  detail::AcceptQueue* queue_ = nullptr;  // the multishot's, once armed
  bool multishot_ = true;                 // until a backend says it has none
};

}  // namespace goro::netpoll
