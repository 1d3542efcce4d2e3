#include "goro/netpoll/listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "accept_queue.hpp"
#include "backend.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/runtime.hpp"
#include "wait.hpp"

namespace goro::netpoll {

int Listener::listen(const std::string& host, int port, int backlog, const char** what) {
  *what = "address";
  sockaddr_storage ss{};
  socklen_t len = detail::socket_address(host, port, ss);
  if (len == 0) return -EINVAL;
  *what = "socket";
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *what = "bind";
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  *what = "listen";
  if (::listen(fd, backlog) < 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                  : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  close();
  fd_ = fd;
  return 0;
}

namespace {

Conn accepted(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Conn(fd);
}

// park()'s unlock for a goroutine waiting on the queue: publish, then let
// the completions in.  (The lock was taken by the goroutine before it
// parked; this runs on the same worker, after its context is saved.)
bool wait_in_queue(goro::G* g, void* arg) {
  auto* q = static_cast<detail::AcceptQueue*>(arg);
  q->waiter = g;
  q->lock.unlock();
  return true;
}

}  // namespace

namespace detail {

void accept_completed(AcceptQueue* q, int res, bool more) {
  goro::G* waiter;
  bool last_of_orphan = false;
  {
    std::lock_guard<detail::SpinLock> l(q->lock);
    if (res >= 0) {
      if (q->orphaned) ::close(res);
      else q->fds.push_back(res);
    } else if (res != -ECONNABORTED) {
      q->error = res;  // the multishot has ended (EMFILE, or the interrupt's shutdown)
    }
    if (!more) {
      q->armed = false;
      last_of_orphan = q->orphaned;
    }
    waiter = std::exchange(q->waiter, nullptr);
  }
  if (waiter) goro::ready(waiter);
  if (last_of_orphan) delete q;
}

void accept_disarmed(AcceptQueue* q) {
  bool orphaned;
  {
    std::lock_guard<detail::SpinLock> l(q->lock);
    q->armed = false;
    orphaned = q->orphaned;
  }
  if (orphaned) delete q;
}

}  // namespace detail

namespace {

// One connection from q's multishot accept (arming it if it is not), or
// -EOPNOTSUPP if the backend has no multishot accept.
int accept_multishot(detail::AcceptQueue* q, Conn& out, const Interrupt* intr, detail::Backend* b) {
  for (;;) {
    if (intr && intr->fired()) return -ECANCELED;
    q->lock.lock();
    if (!q->fds.empty()) {
      int fd = q->fds.front();
      q->fds.pop_front();
      q->lock.unlock();
      out = accepted(fd);
      return 0;
    }
    if (int e = std::exchange(q->error, 0); e != 0) {
      q->lock.unlock();
      return e;  // the next call arms a new multishot
    }
    if (!q->armed) {
      q->armed = true;
      q->lock.unlock();
      if (!b->arm_accept(q)) {
        std::lock_guard<detail::SpinLock> l(q->lock);
        q->armed = false;
        return -EOPNOTSUPP;
      }
      continue;
    }
    // Wait for the next completion, reachable by the interrupt (it shuts
    // the listening socket down, which ends the multishot with an error).
    Interrupt::Enrollment e{q->fd};
    if (intr && !intr->enroll(&e)) {
      q->lock.unlock();
      return -ECANCELED;
    }
    goro::park(goro::WaitReason::io_wait, wait_in_queue, q);
    if (intr) intr->withdraw(&e);
  }
}

}  // namespace

int Listener::accept(Conn& out, const Interrupt* intr) {
  for (;;) {
    if (intr && intr->fired()) return -ECANCELED;
    if (detail::Backend* b = multishot_ ? detail::current_backend() : nullptr) {
      if (!queue_) queue_ = new detail::AcceptQueue(fd_);
      int r = accept_multishot(queue_, out, intr, b);
      if (r != -EOPNOTSUPP) return r;
      multishot_ = false;  // this backend has none: accept4 from now on
    }
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      out = accepted(fd);
      return 0;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN) return -errno;
    int r = wait_fd(fd_, POLLIN, kNoDeadline, intr);
    if (r < 0) return r;
  }
}

void Listener::close() {
  if (queue_) {
    bool armed;
    {
      std::lock_guard<detail::SpinLock> l(queue_->lock);
      for (int fd : queue_->fds) ::close(fd);
      queue_->fds.clear();
      armed = queue_->armed;
      queue_->orphaned = armed;
    }
    // An armed ACCEPT still points at the queue: shutting the socket down
    // ends it, and its last completion frees the queue.
    if (armed) ::shutdown(fd_, SHUT_RDWR);
    else delete queue_;
    queue_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace goro::netpoll
