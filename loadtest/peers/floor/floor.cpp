// goro-floor — the least a loopback HTTP server can do on this kernel: one
// thread, one epoll, no parsing.
//
//   goro-floor --port 0          # prints "listening on 127.0.0.1:PORT" on stderr
//
// What it is for: loadtest/compare runs it beside goro and nginx as the floor
// of server CPU per request.  Whatever a real server spends above it goes to
// parsing, routing, scheduling and bookkeeping; the syscalls and the kernel's
// TCP loopback path are in both.
//
// What it does, per readable connection: recv what is there, count complete
// request terminators ("\r\n\r\n", matched across recv boundaries), and answer
// the N requests that ended with N canned `HTTP/1.1 200 OK` responses in ONE
// send.  It never looks at a method, a path or a header, so it is only correct
// for requests without a body — which is all wrk's GETs are.
//
// Invariants:
//   - A connection with unsent output (the kernel took part of a send) waits
//     for EPOLLOUT only: it is not read again until the rest is sent, so its
//     responses stay in order and a client that does not read cannot make the
//     server buffer without bound.
//   - EOF, a socket error, EPOLLHUP or EPOLLERR close the connection at once.
//   - Only the address given by --bind (default 127.0.0.1) is listened on.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The same body as goro's and nginx's hello, so wrk reads the same bytes.
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n";
// Responses pre-joined for one send without copying: 64 covers wrk's
// pipelined scenario (16 per write) with room; more than that is built.
constexpr int kJoined = 64;
constexpr size_t kRecvBuf = 64 * 1024;

struct Conn {
  int match = 0;    // bytes of "\r\n\r\n" matched at the end of what was read
  std::string out;  // what a short send left; non-empty = waiting for EPOLLOUT
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "goro-floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Advances the "\r\n\r\n" matcher over data; returns how many terminators ended
// in it.  On a mismatch the only prefix of the pattern that can still be under
// way is a lone '\r', hence the reset to 1 or 0.
int count_terminators(int& match, const char* data, size_t n) {
  static constexpr char kPat[4] = {'\r', '\n', '\r', '\n'};
  int complete = 0;
  int m = match;
  for (size_t i = 0; i < n; i++) {
    char c = data[i];
    if (c == kPat[m]) {
      if (++m == 4) {
        complete++;
        m = 0;
      }
    } else {
      m = c == '\r' ? 1 : 0;
    }
  }
  match = m;
  return complete;
}

class Floor {
 public:
  explicit Floor(int listener) : listener_(listener) {
    for (int i = 0; i < kJoined; i++) joined_ += kResponse;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
  }

  [[noreturn]] void run() {
    epoll_event evs[256];
    for (;;) {
      int n = epoll_wait(ep_, evs, 256, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("epoll_wait");
      }
      for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        uint32_t e = evs[i].events;
        if (fd == listener_) {
          accept_all();
        } else if (e & (EPOLLHUP | EPOLLERR)) {
          close_conn(fd);
        } else if (e & EPOLLOUT) {
          flush(fd);
        } else if (e & EPOLLIN) {
          serve(fd);
        }
      }
    }
  }

 private:
  void watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(ep_, op, fd, &ev) < 0) die("epoll_ctl");
  }

  void accept_all() {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: drained; EMFILE and the like: retried on the next event
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1024);
      conns_[fd] = Conn{};
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void close_conn(int fd) {
    conns_[fd] = Conn{};
    close(fd);  // also removes it from the epoll set
  }

  void serve(int fd) {
    Conn& c = conns_[fd];
    int requests = 0;
    for (;;) {
      ssize_t got = recv(fd, buf_, sizeof buf_, 0);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        close_conn(fd);
        return;
      }
      if (got < 0) break;
      requests += count_terminators(c.match, buf_, static_cast<size_t>(got));
      if (static_cast<size_t>(got) < sizeof buf_) break;  // drained: no recv just to see EAGAIN
    }
    if (requests == 0) return;
    std::string_view reply;
    if (requests <= kJoined) {
      reply = std::string_view(joined_).substr(0, requests * kResponse.size());
    } else {
      scratch_.clear();
      for (int i = 0; i < requests; i++) scratch_ += kResponse;
      reply = scratch_;
    }
    ssize_t sent = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) {
      close_conn(fd);
      return;
    }
    size_t done = sent < 0 ? 0 : static_cast<size_t>(sent);
    if (done < reply.size()) {
      c.out.assign(reply.substr(done));
      watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
    }
  }

  void flush(int fd) {
    Conn& c = conns_[fd];
    ssize_t sent = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN) close_conn(fd);
      return;
    }
    c.out.erase(0, static_cast<size_t>(sent));
    if (c.out.empty()) watch(fd, EPOLLIN, EPOLL_CTL_MOD);
  }

  int listener_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::string joined_;   // kJoined responses back to back
  std::string scratch_;  // more than kJoined responses, built per send
  char buf_[kRecvBuf];
};

int listen_on(const char* bind_addr, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, bind_addr, &a.sin_addr) != 1) {
    std::fprintf(stderr, "goro-floor: --bind %s: not an IPv4 address\n", bind_addr);
    std::exit(2);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) die("getsockname");
  // The line loadtest/compare waits for, in goro's words.
  std::fprintf(stderr, "listening on %s:%d\n", bind_addr, ntohs(a.sin_port));
  std::fflush(stderr);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  const char* bind_addr = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (a == "--bind" && i + 1 < argc) {
      bind_addr = argv[++i];
    } else {
      std::fprintf(stderr, "usage: goro-floor [--bind 127.0.0.1] [--port N]  (N = 0: any free port, printed)\n");
      return 2;
    }
  }
  // Heap-allocated: the receive buffer is too big for a comfortable stack.
  auto* floor = new Floor(listen_on(bind_addr, port));
  floor->run();
}
