// goro::netpoll::Conn, for every mode: a non-blocking socket whose operations
// try the syscall first and, on EAGAIN, wait through wait_fd (fd.hpp) — a park
// on the P's netpoll backend in a goroutine, poll(2) bounded by the deadline
// (and the interrupt's eventfd) on an OS thread.  Also when_readable, the
// goroutine-less idle wait (Callback), and the shared helpers of wait.hpp.
#include "goro/netpoll/conn.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <iterator>
#include <vector>

#include "backend.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/runtime.hpp"
#include "wait.hpp"

namespace goro::netpoll {

int poll_timeout_ms(Deadline d) {
  if (d == kNoDeadline) return -1;
  auto left = d - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

namespace {

// On an OS thread: poll(2) on fd and the interrupt's eventfd.
int wait_blocking(int fd, short events, Deadline d, const Interrupt* intr) {
  for (;;) {
    if (intr && intr->fired()) return -ECANCELED;
    pollfd pfd[2] = {{fd, events, 0}, {intr ? intr->fd() : -1, POLLIN, 0}};
    int r = ::poll(pfd, intr ? 2 : 1, poll_timeout_ms(d));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (pfd[0].revents) return 0;  // POLLHUP/POLLERR: the next call reports it
    if (r > 0) return -ECANCELED;
    if (Clock::now() >= d) return -ETIMEDOUT;
  }
}

}  // namespace

namespace detail {
socklen_t socket_address(const std::string& host, int port, sockaddr_storage& ss) {
  if (port < 0 || port > 65535) return 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    return sizeof *v4;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    return sizeof *v6;
  }
  return 0;
}

}  // namespace detail

int wait_fd(int fd, short events, Deadline d, const Interrupt* intr) {
  detail::Backend* b = detail::current_backend();
  if (!b) return wait_blocking(fd, events, d, intr);
  if (!intr) return b->wait_fd(fd, events, d);
  // Enrolled, the wait ends when the interrupt fires (it shuts fd down).
  Interrupt::Enrollment e{fd};
  if (!intr->enroll(&e)) return -ECANCELED;
  int r = b->wait_fd(fd, events, d);
  intr->withdraw(&e);
  return intr->fired() ? -ECANCELED : r;
}

Callback::Callback() noexcept { ::new (wait_) detail::WaitRecord{}; }

Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

int Conn::connect(Conn& out, const std::string& host, int port, Deadline d) {
  sockaddr_storage ss{};
  socklen_t len = detail::socket_address(host, port, ss);
  if (len == 0) return -EINVAL;
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  Conn c(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return -errno;
    if (int r = wait_fd(fd, POLLOUT, d, nullptr); r < 0) return r;
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) return -err;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  out = std::move(c);
  return 0;
}

ssize_t Conn::read(std::span<char> buf, Deadline d) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    if (int r = wait_fd(fd_, POLLIN, d, nullptr); r < 0) return r;
  }
}

int Conn::wait_readable(Deadline d, const Interrupt* intr) {
  return wait_fd(fd_, POLLIN, d, intr);
}

bool Conn::when_readable(Deadline d, const Interrupt* intr, Callback* cb) {
  return when_readable(d, intr, cb, {}, Clock::duration::max());
}

bool Conn::when_readable(Deadline d, const Interrupt* intr, Callback* cb, std::span<const char> unsent,
                         Clock::duration stall) {
  using Access = detail::CallbackAccess;
  detail::Backend* b = detail::current_backend();
  if (!b) return false;
  if (!unsent.empty() && !b->sends_before_waits()) {
    // This backend sends nothing itself (epoll): write, then wait.
    if (int r = write_all({unsent.data(), unsent.size()}, kNoDeadline, stall); r < 0) {
      cb->on_ready(r, {});
      return true;
    }
    unsent = {};
    b = detail::current_backend();  // the write may have parked
  }
  detail::WaitRecord& w = Access::wait(*cb);
  // w.cb is set once cb has been armed: this is a served connection going
  // idle again, and its goroutine exits once the wait is armed.  If this P
  // only woke for a few requests while another P runs, arm the wait there
  // instead (see conn.hpp; "Sharing work" in runtime/src/proc.cpp).  The
  // goroutine may resume on another worker: take that one's backend.
  if (w.cb && goro::rehome()) b = detail::current_backend();
  w = detail::WaitRecord{};
  w.cb = cb;
  w.fd = fd_;
  w.deadline = d;
  Access::intr(*cb) = intr;
  if (intr) {
    Interrupt::Enrollment& e = Access::enrollment(*cb);
    e = Interrupt::Enrollment{fd_};
    if (!intr->enroll(&e)) {
      // Already shutting down: complete now, as the interrupt would have,
      // the answers sent first.
      if (!unsent.empty()) write_all({unsent.data(), unsent.size()}, kNoDeadline, stall);
      w.res = -ECANCELED;
      Access::intr(*cb) = nullptr;
      cb->on_ready(-ECANCELED, {});
      return true;
    }
  }
  if (unsent.empty()) b->read_async(&w);
  else b->send_then_read_async(&w, unsent, stall);
  return true;
}

bool Conn::readable_now() {
  pollfd pfd{fd_, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

int Conn::write_all(std::span<const iovec> bufs, Deadline d) { return write_all(bufs, d, Clock::duration::max()); }

int Conn::write_all(std::span<const iovec> bufs, Deadline d, Clock::duration stall) {
  // A copy to advance through as the kernel takes bytes; on the stack for
  // the usual few buffers (a response is a head and a body).
  iovec small[4];
  std::vector<iovec> big;
  std::span<iovec> iov;
  if (bufs.size() <= std::size(small)) {
    std::copy(bufs.begin(), bufs.end(), small);
    iov = {small, bufs.size()};
  } else {
    big.assign(bufs.begin(), bufs.end());
    iov = big;
  }
  size_t first = 0;
  // When the kernel last took a byte (the call's start counts as progress).
  Deadline stalled = deadline_in(stall);
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -errno;
      if (int r = wait_fd(fd_, POLLOUT, std::min(d, stalled), nullptr); r < 0) return r;
      continue;
    }
    if (n > 0) stalled = deadline_in(stall);
    // Advance past what the kernel took: a short write is normal.
    auto left = static_cast<size_t>(n);
    while (left > 0) {
      size_t take = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      left -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  return 0;
}

int Conn::write_all(std::string_view s, Deadline d) { return write_all(s, d, Clock::duration::max()); }

int Conn::write_all(std::string_view s, Deadline d, Clock::duration stall) {
  iovec v{const_cast<char*>(s.data()), s.size()};
  return write_all(std::span<const iovec>(&v, 1), d, stall);
}

void Conn::shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Conn::linger(Deadline d, size_t max_bytes) {
  if (fd_ < 0) return;
  ::shutdown(fd_, SHUT_WR);
  char sink[4096];
  size_t seen = 0;
  while (seen < max_bytes) {
    ssize_t n = read(sink, d);
    if (n <= 0) break;
    seen += static_cast<size_t>(n);
  }
}

void Conn::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string Conn::peer() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd_ < 0 || ::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "-";
  char host[INET6_ADDRSTRLEN] = "-";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace goro::netpoll
