// goro-idle-holder — open N keep-alive connections to 127.0.0.1:PORT, send one
// request on each, read each response, then hold them all idle.
//
//   goro-idle-holder --port 8080 --conns 10000 --hold 30
//   goro-idle-holder --port 8080 --conns 10000 --hold 0     # hold until SIGTERM
//   goro-idle-holder --port 8080 --conns 10000 --sequential # one at a time
//
// What it shows: what an *idle* keep-alive connection costs a server.  Thread-per-
// connection parks one OS thread (and its stack) on each; goroutine-per-connection
// parks one goroutine; an event loop parks a few hundred bytes of state.
// loadtest/compare reads the server's RSS and thread count once this tool says
// every connection is established and answered.
//
// Output (stdout, one line each, key=value so a script can split it):
//   idle_holder ready target=N answered=A failed=F pending=P ms=T [timeout=1]
//       printed once: when all N are answered, or when --ready-timeout expires
//       first (a server that cannot answer them all — e.g. a saturated pool)
//   idle_holder done held=H closed_by_server=C ms=T
//       printed on exit (hold elapsed, SIGTERM or SIGINT)
//
// Only 127.0.0.1 is ever connected to: this tool exists to load the local server.
// Connections are opened "politely": at most --inflight are connecting or waiting
// for their response at once, so a server's accept backlog is never flooded and a
// slow server is measured, not overrun.
//
// --sequential (= --inflight 1) opens each connection only once the previous
// one has been answered, as a client that connects, asks and keeps the socket
// does.  The two arrival patterns leave a server's memory differently: with
// 256 at once, each request's temporaries are freed together and the next
// wave reuses them; one at a time, every short-lived allocation sits between
// long-lived ones, and a goroutine may be spawned on one P and exit on
// another (issue #11: goroutine stacks piled up in one P's cache).  The
// published figure should not depend on which one a user happens to run.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  int port = 0;
  int conns = 10000;
  double hold_s = 0;            // 0: until SIGTERM/SIGINT
  double ready_timeout_s = 30;  // give up waiting for "all answered" after this
  // 256 in flight: well under the default listen backlog (SOMAXCONN is 4096) and
  // the server's accept queue, yet enough to open 10,000 connections in well under
  // a second on loopback.
  int inflight = 256;
  std::string path = "/";
};

enum class State { connecting, waiting, answered, closed };

struct Conn {
  int fd = -1;
  State state = State::connecting;
  std::string buf;  // response bytes until the response is complete
};

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --port P [--conns N] [--hold SECONDS (0 = until SIGTERM)]\n"
               "          [--ready-timeout SECONDS] [--inflight K | --sequential] [--path /]\n",
               argv0);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (a == "--port") o.port = std::atoi(next());
    else if (a == "--conns") o.conns = std::atoi(next());
    else if (a == "--hold") o.hold_s = std::atof(next());
    else if (a == "--ready-timeout") o.ready_timeout_s = std::atof(next());
    else if (a == "--inflight") o.inflight = std::atoi(next());
    else if (a == "--sequential") o.inflight = 1;
    else if (a == "--path") o.path = next();
    else usage(argv[0]);
  }
  if (o.port <= 0 || o.port > 65535 || o.conns <= 0 || o.inflight <= 0) usage(argv[0]);
  return o;
}

// A response is complete once the header block has ended and Content-Length body
// bytes followed it.  The endpoints we hit always send Content-Length.
bool response_complete(const std::string& b) {
  auto end = b.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t body = 0;
  for (size_t pos = 0; pos < end;) {
    auto eol = b.find("\r\n", pos);
    std::string_view line(b.data() + pos, eol - pos);
    constexpr std::string_view key = "content-length:";
    if (line.size() > key.size()) {
      bool match = true;
      for (size_t k = 0; k < key.size(); ++k)
        if (std::tolower(static_cast<unsigned char>(line[k])) != key[k]) { match = false; break; }
      if (match) body = std::strtoul(std::string(line.substr(key.size())).c_str(), nullptr, 10);
    }
    pos = eol + 2;
  }
  return b.size() >= end + 4 + body;
}

long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);

  // One fd per connection: lift the soft limit to the hard one.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < static_cast<rlim_t>(opt.conns) + 16) {
    std::fprintf(stderr, "idle_holder: RLIMIT_NOFILE %lu is too small for %d connections\n",
                 static_cast<unsigned long>(rl.rlim_cur), opt.conns);
    return 1;
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (sfd < 0 || ep < 0) {
    std::perror("idle_holder: signalfd/epoll_create1");
    return 1;
  }
  // Tag the signalfd with an index no connection can have.
  const uint64_t kSignalTag = ~uint64_t{0};
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u64 = kSignalTag;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(opt.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1, never anything else

  const std::string request =
      "GET " + opt.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: goro-idle-holder\r\n\r\n";

  std::vector<Conn> conns(static_cast<size_t>(opt.conns));
  int opened = 0, inflight = 0, answered = 0, failed = 0, closed_by_server = 0;
  bool ready_printed = false, stop = false;
  const auto t0 = Clock::now();
  Clock::time_point hold_start{};

  auto fail = [&](size_t i, bool was_answered) {
    Conn& c = conns[i];
    if (c.state == State::closed) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    if (was_answered) {
      ++closed_by_server;
    } else {
      ++failed;
      --inflight;
    }
    c.state = State::closed;
    c.buf.clear();
    c.buf.shrink_to_fit();
  };

  auto print_ready = [&](bool timed_out) {
    std::printf("idle_holder ready target=%d answered=%d failed=%d pending=%d ms=%ld%s\n",
                opt.conns, answered, failed, inflight + (opt.conns - opened), ms_since(t0),
                timed_out ? " timeout=1" : "");
    std::fflush(stdout);
    ready_printed = true;
    hold_start = Clock::now();
  };

  std::vector<epoll_event> events(1024);
  while (!stop) {
    // Ramp: keep at most opt.inflight connections between connect() and answer.
    while (opened < opt.conns && inflight < opt.inflight && !ready_printed) {
      size_t i = static_cast<size_t>(opened++);
      Conn& c = conns[i];
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        std::fprintf(stderr, "idle_holder: socket: %s\n", std::strerror(errno));
        c.state = State::closed;
        ++failed;
        continue;
      }
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++inflight;
      if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 &&
          errno != EINPROGRESS) {
        close(c.fd);
        c.state = State::closed;
        ++failed;
        --inflight;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = i;
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }

    if (!ready_printed && (answered + failed == opt.conns)) print_ready(false);

    // Wake at least every 100 ms to check the ready timeout and the hold time.
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) {
      std::perror("idle_holder: epoll_wait");
      return 1;
    }
    for (int k = 0; k < n; ++k) {
      uint64_t tag = events[k].data.u64;
      if (tag == kSignalTag) {
        stop = true;
        continue;
      }
      size_t i = static_cast<size_t>(tag);
      Conn& c = conns[i];
      uint32_t e = events[k].events;
      if (c.state == State::connecting && (e & EPOLLOUT)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(i, false);
          continue;
        }
        // One small request: it fits the empty socket buffer in one write.
        if (write(c.fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
          fail(i, false);
          continue;
        }
        c.state = State::waiting;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      if (c.state == State::waiting && (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
        char tmp[4096];
        bool dead = false;
        for (;;) {
          ssize_t r = read(c.fd, tmp, sizeof tmp);
          if (r > 0) {
            c.buf.append(tmp, static_cast<size_t>(r));
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) dead = true;
          break;
        }
        if (response_complete(c.buf)) {
          c.state = State::answered;
          c.buf.clear();
          c.buf.shrink_to_fit();
          ++answered;
          --inflight;
          if (dead) fail(i, true);
        } else if (dead) {
          fail(i, false);
        }
        continue;
      }
      if (c.state == State::answered && (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
        // The server closed (or wrote to) an idle connection: count it and let go.
        fail(i, true);
      }
    }

    if (!ready_printed && ms_since(t0) > static_cast<long>(opt.ready_timeout_s * 1000)) print_ready(true);
    if (ready_printed && opt.hold_s > 0 &&
        Clock::now() - hold_start > std::chrono::duration<double>(opt.hold_s))
      stop = true;
  }

  int held = 0;
  for (auto& c : conns)
    if (c.state == State::answered) ++held;
  std::printf("idle_holder done held=%d closed_by_server=%d ms=%ld\n", held, closed_by_server,
              ms_since(t0));
  std::fflush(stdout);
  for (auto& c : conns)
    if (c.state != State::closed && c.fd >= 0) close(c.fd);
  return 0;
}
