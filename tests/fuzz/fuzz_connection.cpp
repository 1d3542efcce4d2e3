// Fuzzes the connection state machine (serve_connection) over a real
// socketpair: the input is everything a client sends, then EOF.  Besides
// "ends (short timeouts), never crashes", it checks that a rejected request
// never reaches a handler:
//
//  * the same bytes go through a RequestParser of their own, which says which
//    requests a correct loop dispatches: those the parser accepts, in order,
//    up to the first error, or up to and including the first that does not
//    keep the connection alive;
//  * the loop must dispatch exactly that many (Metrics::requests counts every
//    dispatch), each handler must see the request of its index, and nothing
//    after an error or a close may run;
//  * what it wrote is that many responses (and 100 Continues), each a
//    well-formed HTTP/1.1 response, then the error's status if there was one,
//    then nothing.
//
// A broken rule aborts with "goro: ..." and the input in hex.
//
//   build-fuzz/tests/fuzz/fuzz_connection -max_len=4096 -max_total_time=60 tests/fuzz/corpus/connection
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "goro/http/connection.hpp"
#include "goro/http/parser.hpp"

using namespace goro::http;
using namespace std::chrono_literals;

namespace {

constexpr ParserLimits kLimits{.max_header_bytes = 2048, .max_body_bytes = 4096};

std::string_view g_input;  // the input being checked, for the report

[[noreturn]] void violated(const char* fmt, ...) {
  std::fprintf(stderr, "goro: connection rule broken: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\ninput (%zu bytes):", g_input.size());
  for (unsigned char c : g_input) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

// What a handler saw: its dispatch index (from Metrics::requests) and the request.
struct Seen {
  size_t index;
  Request req;
};

struct Fixture {
  Config config;
  Router router;
  Metrics metrics;
  goro::netpoll::Interrupt draining;
  Context context{config, metrics, -1, std::chrono::steady_clock::now()};
  ConnEnv env{config, router, context, metrics, draining};
  uint64_t base = 0;  // metrics.requests before this input
  std::vector<Seen> seen;

  Fixture() {
    config.limits = kLimits;
    config.header_timeout = 50ms;
    config.body_timeout = 50ms;
    config.idle_timeout = 50ms;
    config.write_timeout = 50ms;
    // Cheap handlers only: the fuzzer must not sleep.  serve_connection
    // counts the request before dispatching it, so requests - base - 1 is
    // this request's index on the connection.
    auto note = [this](const Request& r) {
      seen.push_back({static_cast<size_t>(metrics.requests.load(std::memory_order_relaxed) - base - 1), r});
    };
    router.add({"GET"}, "/", [note](const Request& r, const Context&) {
      note(r);
      return Response::text(200, "hi\n");
    });
    router.add({"POST"}, "/echo", [note](const Request& r, const Context&) {
      note(r);
      return Response::text(200, r.body);
    });
    router.add({"GET"}, "/throw", [note](const Request& r, const Context&) -> Response {
      note(r);
      throw std::runtime_error("x");
    });
  }
};

// What a correct loop does with `input`: the requests it dispatches, and the
// status it answers the first error with (0: none reached).
struct Expected {
  std::vector<Request> dispatched;
  int error = 0;
};

Expected expected(std::string_view input) {
  RequestParser p(kLimits);
  Expected out;
  while (!input.empty()) {
    auto step = p.feed(input);
    input.remove_prefix(step.consumed);
    if (step.event == RequestParser::Event::error) {
      out.error = p.error_status();
      break;
    }
    if (step.event == RequestParser::Event::request) {
      out.dispatched.push_back(p.take());
      if (!out.dispatched.back().keep_alive) break;  // answered with Connection: close
    }
  }
  return out;
}

// Splits what the server wrote into responses and returns each final one's
// status (100 Continues are skipped).  `dispatched` says which answered a
// HEAD (no body after its Content-Length), in order.
std::vector<int> responses(std::string_view out, const std::vector<Request>& dispatched) {
  std::vector<int> statuses;
  while (!out.empty()) {
    if (!out.starts_with("HTTP/1.1 ") || out.size() < 13 || out[12] != ' ')
      violated("response %zu does not start with a status line", statuses.size());
    int status = std::atoi(std::string(out.substr(9, 3)).c_str());
    size_t end = out.find("\r\n\r\n");
    if (end == std::string_view::npos) violated("response %zu has no end of header block", statuses.size());
    std::string_view head = out.substr(0, end + 2);
    out.remove_prefix(end + 4);
    if (status == 100) continue;
    size_t cl = head.find("\r\nContent-Length: ");
    if (cl == std::string_view::npos) violated("response %zu has no Content-Length", statuses.size());
    size_t length = std::strtoul(head.data() + cl + 18, nullptr, 10);
    bool head_only = statuses.size() < dispatched.size() && dispatched[statuses.size()].method == "HEAD";
    if (!head_only) {
      if (length > out.size()) violated("response %zu is cut short", statuses.size());
      out.remove_prefix(length);
    }
    statuses.push_back(status);
  }
  return statuses;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  g_input = input;
  Expected want = expected(input);

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
  // Read the answers as they come, so that many small responses never fill
  // the socket buffer and end the loop on a write timeout.
  std::string out;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(sv[1], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  });
  fx.base = fx.metrics.requests.load(std::memory_order_relaxed);
  fx.seen.clear();
  {
    goro::netpoll::Conn conn(sv[0]);
    ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
    serve_connection(conn, fx.env);
  }  // closes sv[0]: the reader sees EOF
  reader.join();
  ::close(sv[1]);

  size_t dispatched = fx.metrics.requests.load(std::memory_order_relaxed) - fx.base;
  if (dispatched != want.dispatched.size())
    violated("%zu requests dispatched, but the parser accepts %zu before %s", dispatched, want.dispatched.size(),
             want.error ? "its first error" : "the close or the end");
  for (const Seen& s : fx.seen) {
    if (s.index >= want.dispatched.size()) violated("a handler ran for request %zu", s.index);
    const Request& w = want.dispatched[s.index];
    if (s.req.method != w.method || s.req.target != w.target || s.req.body != w.body)
      violated("the handler of request %zu saw another request", s.index);
  }
  std::vector<int> statuses = responses(out, want.dispatched);
  size_t want_responses = want.dispatched.size() + (want.error ? 1 : 0);
  if (statuses.size() != want_responses)
    violated("%zu responses written for %zu requests dispatched%s", statuses.size(), want.dispatched.size(),
             want.error ? " and an error" : "");
  if (want.error && statuses.back() != want.error)
    violated("the rejected request was answered %d, the parser says %d", statuses.back(), want.error);
  return 0;
}
