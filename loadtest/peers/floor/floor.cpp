// goro-floor — the least a loopback HTTP server can do on this kernel: one
// thread, one epoll, no parsing.
//
//   goro-floor --port 0          # prints "listening on 127.0.0.1:PORT" on stderr
//   goro-floor --delay-ms 100    # every answer held 100 ms: the floor of /sleep?ms=100
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
// With --delay-ms N it answers each batch N ms after it arrived instead of at
// once, whatever the request says: the least a server can do for wrk's
// /sleep?ms=N, so loadtest/compare can show what the load generator allows
// there.  Held batches wait in one FIFO (the delay is the same for all, so
// arrival order is due order) and go out when the oldest is due, which
// epoll_pwait2's timeout (nanoseconds, not epoll_wait's whole milliseconds)
// wakes the loop for; epoll_wait's where the kernel lacks epoll_pwait2.
//
// Invariants:
//   - A connection with unsent output (the kernel took part of a send) waits
//     for EPOLLOUT only: it is not read again until the rest is sent, so its
//     responses stay in order and a client that does not read cannot make the
//     server buffer without bound.
//   - EOF, a socket error, EPOLLHUP or EPOLLERR close the connection at once.
//   - A held batch belongs to the connection it came from: if that one
//     closes and the descriptor is reused, the batch is dropped, not sent
//     to the newcomer (each accept gets a new generation number).
//   - Only the address given by --bind (default 127.0.0.1) is listened on.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
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
  int match = 0;          // bytes of "\r\n\r\n" matched at the end of what was read
  std::string out;        // what a short send left; non-empty = waiting for EPOLLOUT
  std::uint64_t gen = 0;  // which accept this is (0: no connection)
};

// A batch of answers held for --delay-ms.
struct Held {
  std::int64_t due_ns;
  int fd;
  std::uint64_t gen;
  int requests;
};

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

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
  Floor(int listener, int delay_ms) : listener_(listener), delay_ns_(std::int64_t{delay_ms} * 1'000'000) {
    for (int i = 0; i < kJoined; i++) joined_ += kResponse;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
  }

  [[noreturn]] void run() {
    epoll_event evs[256];
    for (;;) {
      int n = wait(evs, 256);
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
      // After this wait's events, not before: an answer whose send fails
      // closes its connection, and an event of this wait for that
      // descriptor must not then reach a newcomer that reused it.
      release_due();
    }
  }

 private:
  // epoll_wait until the oldest held batch is due, or without a timeout when
  // none is held.  A kernel before 5.11 has no epoll_pwait2 (nor does an
  // older container's seccomp filter allow it): then the timeout is rounded
  // up to epoll_wait's whole milliseconds.
  int wait(epoll_event* evs, int max) {
    if (held_.empty()) return epoll_wait(ep_, evs, max, -1);
    std::int64_t ns = std::max<std::int64_t>(held_.front().due_ns - now_ns(), 0);
    if (have_pwait2_) {
      timespec left{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      int n = epoll_pwait2(ep_, evs, max, &left, nullptr);
      if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;  // EPERM: a seccomp filter that predates it
      have_pwait2_ = false;
    }
    return epoll_wait(ep_, evs, max, static_cast<int>((ns + 999'999) / 1'000'000));
  }

  void release_due() {
    if (held_.empty()) return;  // without --delay-ms: no clock read per wait
    std::int64_t now = now_ns();
    while (!held_.empty() && held_.front().due_ns <= now) {
      Held h = held_.front();
      held_.pop_front();
      if (conns_[h.fd].gen == h.gen) answer(h.fd, h.requests);
    }
  }

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
      conns_[fd].gen = ++accepted_;
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
    if (delay_ns_ > 0) {
      held_.push_back({now_ns() + delay_ns_, fd, c.gen, requests});
      return;
    }
    answer(fd, requests);
  }

  // Sends `requests` canned responses, or queues them behind output that a
  // short send left (then EPOLLOUT is already watched).
  void answer(int fd, int requests) {
    Conn& c = conns_[fd];
    std::string_view reply;
    if (requests <= kJoined) {
      reply = std::string_view(joined_).substr(0, requests * kResponse.size());
    } else {
      scratch_.clear();
      for (int i = 0; i < requests; i++) scratch_ += kResponse;
      reply = scratch_;
    }
    if (!c.out.empty()) {
      c.out.append(reply);
      return;
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
  std::int64_t delay_ns_;  // --delay-ms; 0: answer at once
  int ep_ = -1;
  bool have_pwait2_ = true;
  std::uint64_t accepted_ = 0;
  std::deque<Held> held_;  // oldest (first due) at the front
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
  int delay_ms = 0;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (a == "--bind" && i + 1 < argc) {
      bind_addr = argv[++i];
    } else if (a == "--delay-ms" && i + 1 < argc) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 60'000) {
        std::fprintf(stderr, "goro-floor: --delay-ms %s: want 0 to 60000\n", argv[i]);
        return 2;
      }
      delay_ms = static_cast<int>(v);
    } else {
      std::fprintf(stderr,
                   "usage: goro-floor [--bind 127.0.0.1] [--port N] [--delay-ms MS]\n"
                   "  N = 0: any free port, printed; MS: hold every answer that long (0-60000, default 0)\n");
      return 2;
    }
  }
  // Heap-allocated: the receive buffer is too big for a comfortable stack.
  auto* floor = new Floor(listen_on(bind_addr, port), delay_ms);
  floor->run();
}
