// goro::http::Client against scripted servers (RawServer: blocking sockets,
// no goro code, one thread per connection, each running a script of what
// the server says and when), against the real goro binary, and against
// nginx when installed (the `client.nginx` entry; Skipped without it).
//
// Every case that talks to a server runs twice (both_ways): on this OS
// thread, where the client blocks, and as goro::run's main goroutine on the
// netpoller, where it parks.  Checks are on outcomes (error kinds, bodies,
// connection counts), never on elapsed time.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "goro/http/client.hpp"
#include "goro/netpoll/poller.hpp"
#include "goro/runtime.hpp"
#include "goro/stats.hpp"
#include "http_client.hpp"
#include "refusing_port.hpp"
#include "server_process.hpp"
#include "skip.hpp"
#include "wait.hpp"

using namespace std::chrono_literals;
using goro::http::Client;
using goro::http::ClientErrc;
using goro::http::ClientOptions;
using goro::http::ClientRequest;
using goro::http::ClientResponse;
using goro::http::Url;
namespace fs = std::filesystem;

namespace {

// Runs fn on this OS thread, then as the main goroutine of a runtime with
// the netpoller (io_uring where the kernel allows it, else epoll).
void both_ways(const std::function<void()>& fn) {
  MESSAGE("on an OS thread");
  fn();
  // (INFO would not do: its scope is thread-local, and a goroutine migrates.)
  MESSAGE("in a goroutine");
  goro::Options o;
  o.procs = 2;
  o.poller = goro::netpoll::poller_factory(goro::netpoll::choose_poller(goro::netpoll::PollerKind::automatic).kind);
  goro::run(
      [&] {
        REQUIRE(goro::in_goroutine());
        fn();
      },
      o);
}

// ---- RawServer ---------------------------------------------------------

void write_str(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one request (head, and a Content-Length body); false on EOF/error.
// The client sends one request at a time, so no byte of the next one can
// be read here.
bool read_request(int fd, std::string* head = nullptr) {
  std::string buf;
  char c[4096];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, c, sizeof c, 0);
    if (n <= 0) return false;
    buf.append(c, static_cast<size_t>(n));
  }
  size_t want = 0;
  if (size_t cl = buf.find("Content-Length: "); cl != std::string::npos) want = std::stoul(buf.substr(cl + 16));
  while (buf.size() < end + 4 + want) {
    ssize_t n = ::recv(fd, c, sizeof c, 0);
    if (n <= 0) return false;
    buf.append(c, static_cast<size_t>(n));
  }
  if (head) *head = buf.substr(0, end);
  return true;
}

// Until the client closes (or the server is torn down).
void wait_eof(int fd) {
  char c[4096];
  while (::recv(fd, c, sizeof c, 0) > 0) {
  }
}

// Answers every request on the connection with `response`.
void answer_all(int fd, const std::string& response) {
  while (read_request(fd)) write_str(fd, response);
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// A listener on 127.0.0.1:0 whose every connection runs script(fd, index),
// index counting accepted connections from 0.  The script's return closes
// the connection.
class RawServer {
 public:
  using Script = std::function<void(int fd, int index)>;
  explicit RawServer(Script script) : script_(std::move(script)) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::listen(lfd_, 64) == 0);
    REQUIRE(::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] {
      for (int i = 0;; ++i) {
        int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;  // shut down
        accepted_.fetch_add(1);
        std::lock_guard l(mu_);
        fds_.push_back(fd);
        conns_.emplace_back([this, fd, i] {
          script_(fd, i);
          ::shutdown(fd, SHUT_RDWR);
        });
      }
    });
  }
  ~RawServer() {
    ::shutdown(lfd_, SHUT_RDWR);  // ends accept()
    acceptor_.join();
    {
      std::lock_guard l(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);  // ends scripts still waiting
    }
    for (auto& t : conns_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(lfd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::string url(std::string_view path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + std::string(path); }

 private:
  Script script_;
  int lfd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;            // guarded by mu_
  std::vector<std::thread> conns_;  // guarded by mu_ until the acceptor ends
};

ClientOptions quick() {
  ClientOptions o;
  o.connect_timeout = 5s;
  o.write_timeout = 5s;
  o.read_timeout = 10s;  // bounds a failing run only
  return o;
}

}  // namespace

TEST_CASE("URLs: http only, hosts and ports checked, targets in origin-form") {
  Url u;
  REQUIRE(Url::parse("http://127.0.0.1:8080/sleep?ms=1", u).ok());
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8080);
  CHECK(u.target == "/sleep?ms=1");
  CHECK(u.authority() == "127.0.0.1:8080");
  REQUIRE(Url::parse("HTTP://Example.COM", u).ok());
  CHECK(u.host == "example.com");
  CHECK(u.port == 80);
  CHECK(u.target == "/");
  CHECK(u.authority() == "example.com");
  REQUIRE(Url::parse("http://[::1]:81?x=1#frag", u).ok());
  CHECK(u.host == "::1");
  CHECK(u.target == "/?x=1");
  CHECK(u.authority() == "[::1]:81");
  for (const char* bad : {"https://127.0.0.1/", "ftp://h/", "127.0.0.1:80/", "http:///x", "http://h:0/",
                          "http://h:65536/", "http://h:x/", "http://::1/", "http://[::1/", "http://[zz]/",
                          "http://u@h/", "http://h/a b", "http://h/\r\n"}) {
    CAPTURE(bad);
    auto st = Url::parse(bad, u);
    CHECK(st.code == ClientErrc::invalid);
  }
  auto st = Url::parse("https://example.com/", u);
  CHECK(st.message.find("https") != std::string::npos);
  // The client returns the same error; nothing is thrown, nothing sent.
  Client c;
  ClientResponse r;
  CHECK(c.get("https://127.0.0.1:1/", r).code == ClientErrc::invalid);
  ClientRequest req;
  req.url = "http://127.0.0.1:1/";
  req.headers = {{"X-A", "b\r\nInjected: yes"}};
  CHECK(c.send(req, r).code == ClientErrc::invalid);
}

TEST_CASE("keep-alive: one connection serves several requests") {
  both_ways([] {
    RawServer s([](int fd, int) { answer_all(fd, kOk); });
    Client c(quick());
    for (int i = 0; i < 5; ++i) {
      ClientResponse r;
      auto st = c.get(s.url(), r);
      REQUIRE_MESSAGE(st.ok(), st.message);
      CHECK(r.status == 200);
      CHECK(r.body == "ok");
    }
    CHECK(s.accepted() == 1);
    CHECK(c.stats().dials == 1);
    CHECK(c.stats().reuses == 4);
    CHECK(c.stats().idle == 1);
  });
}

TEST_CASE("keep-alive against the goro binary: the server accepts one connection for five requests") {
  goro::test::ServerProcess server;  // in $GORO_TEST_MODE, thread by default
  // connections.accepted from /debug/vars, read on a connection of its own
  // (the test's raw client), which counts itself.
  auto accepted = [&] {
    auto r = goro::test::get(server.port(), "/debug/vars");
    REQUIRE(r);
    size_t at = r->body.find("\"accepted\": ");
    REQUIRE(at != std::string::npos);
    return std::stoi(r->body.substr(at + 12));
  };
  both_ways([&] {
    Client c(quick());
    int before = accepted();
    for (int i = 0; i < 5; ++i) {
      ClientResponse r;
      auto st = c.get("http://127.0.0.1:" + std::to_string(server.port()) + "/", r);
      REQUIRE_MESSAGE(st.ok(), st.message);
      CHECK(r.body == "Hello, World!\n");
    }
    // One for the client's five requests, one for this second look.
    CHECK(accepted() - before == 2);
  });
}

TEST_CASE("a server that closes mid-response is an error, not a hang") {
  both_ways([] {
    RawServer s([](int fd, int i) {
      if (!read_request(fd)) return;
      if (i == 0) write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(50, 'x'));
      else write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc");
    });
    Client c(quick());
    ClientResponse r;
    auto st = c.get(s.url(), r);
    CHECK(st.code == ClientErrc::unavailable);
    CHECK(st.message.find("before the response was complete") != std::string::npos);
    st = c.get(s.url(), r);
    CHECK(st.code == ClientErrc::unavailable);
    CHECK(c.stats().idle == 0);
  });
}

TEST_CASE("a slow server: the read deadline ends the call with timeout") {
  both_ways([] {
    // Answers nothing until the client gives up and closes.
    RawServer silent([](int fd, int) {
      read_request(fd);
      wait_eof(fd);
    });
    ClientOptions o = quick();
    o.read_timeout = 100ms;
    Client c(o);
    ClientResponse r;
    CHECK(c.get(silent.url(), r).code == ClientErrc::timeout);
    // The caller's deadline bounds the call as well as the options do.
    Client patient(quick());
    CHECK(patient.get(silent.url(), r, goro::netpoll::deadline_in(100ms)).code == ClientErrc::timeout);

    // One deadline for the whole response: bytes trickling in do not extend
    // it.  (With a deadline per read this server would run out of bytes
    // first and close: `unavailable`, not `timeout`.)
    RawServer trickle([](int fd, int) {
      if (!read_request(fd)) return;
      write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
      for (int i = 0; i < 100; ++i) {
        if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) return;
        std::this_thread::sleep_for(20ms);  // the server's pace, not a wait of the test
      }
    });
    CHECK(c.get(trickle.url(), r).code == ClientErrc::timeout);
    CHECK(c.stats().idle == 0);
  });
}

TEST_CASE("a refused connection is `refused`") {
  both_ways([] {
    goro::test::RefusingPort refusing;
    Client c(quick());
    ClientResponse r;
    auto st = c.get("http://127.0.0.1:" + std::to_string(refusing.port()) + "/", r);
    CHECK(st.code == ClientErrc::refused);
    CHECK(st.message.find("connect") != std::string::npos);
  });
}

TEST_CASE("bodies: chunked, close-delimited, and none for HEAD, 204, 304 and 1xx") {
  both_ways([] {
    RawServer chunked([](int fd, int) {
      answer_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
    });
    Client c(quick());
    ClientResponse r;
    for (int i = 0; i < 2; ++i) {
      auto st = c.get(chunked.url(), r);
      REQUIRE_MESSAGE(st.ok(), st.message);
      CHECK(r.body == "hello world");
    }
    CHECK(chunked.accepted() == 1);

    // No length, no chunking: the body runs to the close (RFC 9112 §6.3).
    RawServer delimited([](int fd, int i) {
      if (!read_request(fd)) return;
      write_str(fd, i == 0 ? "HTTP/1.1 200 OK\r\n\r\nhello, " : "HTTP/1.0 200 OK\r\n\r\nold friend");
    });
    auto st = c.get(delimited.url(), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.body == "hello, ");
    st = c.get(delimited.url(), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.body == "old friend");
    CHECK(r.version_minor == 0);
    CHECK(delimited.accepted() == 2);

    // Content-Length on a HEAD answer, 204 and 304 describes no body: the
    // next response follows at once on the same connection.
    RawServer empty([](int fd, int) {
      std::string head;
      while (read_request(fd, &head)) {
        if (head.starts_with("HEAD")) write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        else if (head.find("/204") != std::string::npos) write_str(fd, "HTTP/1.1 204 No Content\r\n\r\n");
        else if (head.find("/304") != std::string::npos) write_str(fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
        else write_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + kOk);
      }
    });
    ClientRequest head;
    head.method = "HEAD";
    head.url = empty.url();
    st = c.send(head, r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(*r.header("content-length") == "100");
    for (const char* path : {"/204", "/304"}) {
      st = c.get(empty.url(path), r);
      REQUIRE_MESSAGE(st.ok(), st.message);
      CHECK(r.body.empty());
    }
    st = c.get(empty.url("/"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(r.header("Link") == nullptr);  // the interim response's
    CHECK(empty.accepted() == 1);
  });
}

TEST_CASE("a response over the cap is `too_large`; a malformed one is `protocol`") {
  both_ways([] {
    RawServer s([](int fd, int) {
      std::string head;
      while (read_request(fd, &head)) {
        if (head.find("/big-body") != std::string::npos)
          write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n" + std::string(4000, 'b'));
        else if (head.find("/big-head") != std::string::npos)
          write_str(fd, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(4000, 'h') + "\r\nContent-Length: 0\r\n\r\n");
        else if (head.find("/fits") != std::string::npos)
          write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n" + std::string(900, 'f'));
        else
          write_str(fd, "HTTP/1.1 two hundred\r\n\r\n");
      }
    });
    ClientOptions o = quick();
    o.max_response_bytes = 1024;
    Client c(o);
    ClientResponse r;
    CHECK(c.get(s.url("/big-body"), r).code == ClientErrc::too_large);
    CHECK(c.get(s.url("/big-head"), r).code == ClientErrc::too_large);
    auto st = c.get(s.url("/fits"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.body.size() == 900);
    CHECK(c.get(s.url("/garbage"), r).code == ClientErrc::protocol);
  });
}

TEST_CASE("a pooled connection the server closed: dropped, or the request is sent again if idempotent") {
  both_ways([] {
    // Closes each connection right after its first answer.
    RawServer closes([](int fd, int) {
      if (read_request(fd)) write_str(fd, kOk);
    });
    Client c(quick());
    ClientResponse r;
    for (int i = 0; i < 3; ++i) {
      auto st = c.get(closes.url(), r);
      REQUIRE_MESSAGE(st.ok(), st.message);
    }
    CHECK(closes.accepted() == 3);

    // Answers one request on its first connection (two on later ones), then
    // reads the next and closes unanswered: the race where the server times
    // the connection out as the request arrives.  A GET is sent again on a
    // new connection; a POST is not.
    RawServer drops([](int fd, int i) {
      for (int answered = 0; answered < (i == 0 ? 1 : 2); ++answered) {
        if (!read_request(fd)) return;
        write_str(fd, kOk);
      }
      read_request(fd);
    });
    Client d(quick());
    auto st = d.get(drops.url(), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    st = d.get(drops.url(), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(d.stats().retries == 1);
    CHECK(drops.accepted() == 2);

    ClientRequest post;
    post.method = "POST";
    post.url = drops.url();
    post.body = "once";
    st = d.send(post, r);  // the second connection's second request: answered
    REQUIRE_MESSAGE(st.ok(), st.message);
    st = d.send(post, r);  // its third: read, then dropped, and not repeated
    CHECK(st.code == ClientErrc::unavailable);
    CHECK(d.stats().retries == 1);
    CHECK(drops.accepted() == 2);
  });
}

TEST_CASE("redirects: returned by default, followed when asked, bounded") {
  both_ways([] {
    RawServer s([](int fd, int) {
      std::string head;
      while (read_request(fd, &head)) {
        if (head.starts_with("GET /a ")) write_str(fd, "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n");
        else if (head.starts_with("GET /loop ")) write_str(fd, "HTTP/1.1 307 Again\r\nLocation: loop\r\nContent-Length: 0\r\n\r\n");
        else write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
      }
    });
    ClientResponse r;
    Client plain(quick());
    auto st = plain.get(s.url("/a"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 302);
    ClientOptions o = quick();
    o.max_redirects = 2;
    Client follows(o);
    st = follows.get(s.url("/a"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    CHECK(r.body == "b");
    CHECK(follows.get(s.url("/loop"), r).code == ClientErrc::protocol);
  });
}

TEST_CASE("a host name is looked up (off the worker in a goroutine)") {
  both_ways([] {
    RawServer s([](int fd, int) { answer_all(fd, kOk); });
    Client c(quick());
    ClientResponse r;
    // localhost may resolve to ::1 first, where nobody listens: the client
    // goes on to 127.0.0.1.
    auto st = c.get("http://localhost:" + std::to_string(s.port()) + "/", r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.body == "ok");
    if (goro::in_goroutine()) CHECK(goro::stats().blocking_threads >= 1);
    CHECK(c.get("http://no-such-host.invalid/", r).code == ClientErrc::unavailable);
  });
}

// ---- nginx -------------------------------------------------------------------

namespace {

// nginx on 127.0.0.1 with a config of its own in a temporary directory,
// serving that directory's www/ and its stub_status at /status.
class Nginx {
 public:
  Nginx() {
    const char* bin = "/usr/sbin/nginx";
    if (::access(bin, X_OK) != 0) goro::test::skip_process("nginx is not installed (apt-get install nginx-light)");
    char tmpl[] = "/tmp/goro-client-nginx-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::create_directories(dir_ / "www");
    std::ofstream(dir_ / "www" / "hello.txt") << "hello from nginx\n";
    std::ofstream(dir_ / "www" / "big.bin") << std::string(100'000, 'n');
    // A free port, as the kernel hands them out; nginx binds it a moment
    // later (another process could take it in between: then start again).
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = free_port();
      std::ofstream(dir_ / "nginx.conf")
          << "daemon off;\nmaster_process off;\nworker_processes 1;\npid " << (dir_ / "nginx.pid").string()
          << ";\nerror_log " << (dir_ / "error.log").string() << ";\nevents { worker_connections 64; }\n"
          << "http {\n  access_log off;\n  client_body_temp_path " << dir_.string() << ";\n  proxy_temp_path "
          << dir_.string() << ";\n  fastcgi_temp_path " << dir_.string() << ";\n  uwsgi_temp_path " << dir_.string()
          << ";\n  scgi_temp_path " << dir_.string() << ";\n  keepalive_requests 1000;\n"
          << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    root " << (dir_ / "www").string()
          << ";\n    location = /status { stub_status; }\n    location = /chunked { gzip on; gzip_min_length 0; "
             "gzip_types text/plain; default_type text/plain; alias "
          << (dir_ / "www" / "hello.txt").string() << "; }\n  }\n}\n";
      pid_t pid = ::fork();
      if (pid == 0) {
        std::string conf = (dir_ / "nginx.conf").string(), prefix = dir_.string() + "/";
        std::string err = (dir_ / "error.log").string();
        ::execl(bin, bin, "-p", prefix.c_str(), "-c", conf.c_str(), "-e", err.c_str(), nullptr);
        std::_Exit(127);
      }
      // Up when it accepts; gone (exited) when its bind failed.
      bool up = false, exited = false;
      goro::test::thread_wait_until(
          [&] {
            exited = ::waitpid(pid, nullptr, WNOHANG) == pid;
            up = !exited && connects();
            return up || exited;
          },
          "nginx accepting or exiting");
      if (up) pid_ = pid;
    }
    REQUIRE_MESSAGE(pid_ > 0, "nginx did not start; see " << (dir_ / "error.log").string());
  }
  ~Nginx() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }
  std::string url(std::string_view path) const { return "http://127.0.0.1:" + std::to_string(port_) + std::string(path); }
  // stub_status's "accepts": connections nginx accepted so far.
  int accepts() const {
    auto r = goro::test::get(port_, "/status");
    REQUIRE(r);
    // "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
    size_t at = r->body.find("requests\n");
    REQUIRE(at != std::string::npos);
    return std::stoi(r->body.substr(at + 9));
  }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), len);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }
  bool connects() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("nginx: files, 404, HEAD, chunked, keep-alive reuse and the size cap") {
  Nginx nginx;
  both_ways([&] {
    ClientOptions o = quick();
    o.max_response_bytes = 50'000;
    Client c(o);
    ClientResponse r;
    int before = nginx.accepts();
    auto st = c.get(nginx.url("/hello.txt"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    CHECK(r.body == "hello from nginx\n");
    st = c.get(nginx.url("/missing"), r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 404);
    ClientRequest head;
    head.method = "HEAD";
    head.url = nginx.url("/hello.txt");
    st = c.send(head, r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    ClientRequest gz;
    gz.url = nginx.url("/chunked");
    gz.headers = {{"Accept-Encoding", "gzip"}};
    st = c.send(gz, r);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(r.status == 200);
    REQUIRE(r.header("Transfer-Encoding"));
    CHECK(*r.header("Transfer-Encoding") == "chunked");
    CHECK(r.body.starts_with("\x1f\x8b"));  // a gzip stream
    // Four requests, one connection (and one for the look at /status).
    CHECK(nginx.accepts() - before == 2);
    CHECK(c.get(nginx.url("/big.bin"), r).code == ClientErrc::too_large);
  });
}
