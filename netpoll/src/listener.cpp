#include "goro/net/listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "goro/net/interrupt.hpp"
#include "wait.hpp"

namespace goro::net {

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

int Listener::accept(Conn& out, const Interrupt* intr) {
  for (;;) {
    if (intr && intr->fired()) return -ECANCELED;
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      out = Conn(fd);
      return 0;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN) return -errno;
    int r = detail::wait_fd(fd_, POLLIN, kNoDeadline, intr);
    if (r < 0) return r;
  }
}

void Listener::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace goro::net
