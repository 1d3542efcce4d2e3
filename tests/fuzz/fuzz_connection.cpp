// Fuzzes the connection state machine (serve_connection) over a real
// socketpair: the input is everything a client sends, then EOF.  Checks that
// the loop ends (no hang: short timeouts), never crashes, and that whatever
// it wrote starts with a well-formed status line.
//
//   build-fuzz/tests/fuzz/fuzz_connection -max_len=4096 -max_total_time=60 tests/fuzz/corpus/connection
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "goro/http/connection.hpp"

using namespace goro::http;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  Config config;
  Router router;
  Metrics metrics;
  goro::netpoll::Interrupt draining;
  Context context{config, metrics, -1, std::chrono::steady_clock::now()};
  ConnEnv env{config, router, context, metrics, draining};

  Fixture() {
    config.limits = {.max_header_bytes = 2048, .max_body_bytes = 4096};
    config.header_timeout = 50ms;
    config.body_timeout = 50ms;
    config.idle_timeout = 50ms;
    config.write_timeout = 50ms;
    // Cheap handlers only: the fuzzer must not sleep.
    router.add({"GET"}, "/", [](const Request&, const Context&) { return Response::text(200, "hi\n"); });
    router.add({"POST"}, "/echo", [](const Request& r, const Context&) { return Response::text(200, r.body); });
    router.add({"GET"}, "/throw", [](const Request&, const Context&) -> Response { throw std::runtime_error("x"); });
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) std::abort();
  // The whole input fits the socket buffer (-max_len 4096 << 200 KiB).
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::write(sv[1], data + off, size - off);
    if (n <= 0) std::abort();
    off += static_cast<size_t>(n);
  }
  ::shutdown(sv[1], SHUT_WR);
  {
    goro::netpoll::Conn conn(sv[0]);
    ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
    serve_connection(conn, fx.env);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(sv[1], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(sv[1]);
  if (!out.empty() && !out.starts_with("HTTP/1.1 ")) {
    std::fprintf(stderr, "goro: response does not start with a status line\n");
    std::abort();
  }
  return 0;
}
