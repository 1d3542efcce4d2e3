// echo — a TCP echo server: one goroutine per connection, each a plain
// blocking read/write loop that parks on goro's netpoller (io_uring, or
// epoll where io_uring is unavailable) instead of holding an OS thread.
//
// Build against an installed goro (the .deb, or cmake --install into P and
// PKG_CONFIG_PATH=P/lib/pkgconfig):
//   g++ -std=c++20 -O2 echo.cpp -o echo $(pkg-config --cflags --libs --static goro-netpoll)
// or with CMake: examples/CMakeLists.txt.
//
//   ./echo [PORT]        # 127.0.0.1:PORT, default 7007; 0 picks a free port
//   echo hello | nc -q1 127.0.0.1 7007
#include <goro/netpoll/conn.hpp>
#include <goro/netpoll/listener.hpp>
#include <goro/netpoll/poller.hpp>
#include <goro/runtime.hpp>
#include <goro/time.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace np = goro::netpoll;

// Serves one connection until the peer closes it or an error ends it.
static void serve(np::Conn c) {
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = c.read(buf, np::kNoDeadline);  // parks this goroutine only
    if (n <= 0) return;                        // 0: peer closed; < 0: -errno
    if (c.write_all(std::string_view(buf, static_cast<size_t>(n)), np::kNoDeadline) < 0) return;
  }
}

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 7007;
  np::PollerChoice poller = np::choose_poller(np::PollerKind::automatic);
  goro::run(
      [&] {
        np::Listener ln;
        const char* what = "listen";
        if (int rc = ln.listen("127.0.0.1", port, 128, &what); rc < 0) {
          std::fprintf(stderr, "echo: %s: %s\n", what, std::strerror(-rc));
          std::exit(1);
        }
        std::printf("echo: listening on 127.0.0.1:%d, %s\n", ln.port(), poller.detail.c_str());
        std::fflush(stdout);
        for (;;) {
          np::Conn c;
          int rc = ln.accept(c, nullptr);
          if (rc == -EMFILE || rc == -ENFILE) {  // out of descriptors: let some close
            goro::sleep_for(std::chrono::milliseconds(10));
            continue;
          }
          if (rc < 0) {
            std::fprintf(stderr, "echo: accept: %s\n", std::strerror(-rc));
            std::exit(1);
          }
          goro::go([c = std::move(c)]() mutable { serve(std::move(c)); });
        }
      },
      {.poller = np::poller_factory(poller.kind)});
}
