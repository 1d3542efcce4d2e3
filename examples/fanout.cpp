// fanout — one request that calls N backends at once and gathers their
// answers over a channel, with a deadline: the pattern goroutines and
// channels were made for.  Each call is a goroutine on goro::http::Client
// (parked on the netpoller while it waits); the handler selects between the
// results channel and a deadline channel, so one slow backend cannot hold
// the answer past --timeout.  The backend here is this same server's
// /work?ms=M, so the example needs nothing else running.
//
//   GET /fanout?n=N&ms=M   N calls (1..100) to /work?ms=M (0..10000), at once
//       → {"n":N,"ok":..,"failed":..,"timed_out":..,"elapsed_ms":..}
//   GET /work?ms=M         sleeps M ms, then answers "done"
//
// Build against an installed goro (the .deb, or cmake --install into P and
// PKG_CONFIG_PATH=P/lib/pkgconfig):
//   g++ -std=c++20 -O2 fanout.cpp -o fanout $(pkg-config --cflags --libs --static goro-http)
// or with CMake: examples/CMakeLists.txt.
//
//   ./fanout [PORT] [TIMEOUT_MS]   # 127.0.0.1:PORT, default 8082; 0 picks a free port
//   curl '127.0.0.1:8082/fanout?n=10&ms=20'
#include <goro/chan.hpp>
#include <goro/http/client.hpp>
#include <goro/http/server.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/time.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace http = goro::http;
using std::chrono::milliseconds;

namespace {

// A query parameter as an integer in [lo, hi], or nullopt.
std::optional<int> int_param(const http::Request& req, std::string_view name, int lo, int hi) {
  std::optional<std::string_view> s = req.query_param(name);
  int v = 0;
  if (!s) return std::nullopt;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// A channel that closes at `d` (Go's time.After, closed rather than sent
// on so that any number of receivers see it).  Its goroutine sleeps until d
// even when nobody waits any more: a cost bounded by the deadline.
goro::Chan<bool> after(goro::netpoll::Deadline d) {
  goro::Chan<bool> ch;
  goro::go([ch, d] {
    goro::sleep_until(d);
    ch.close();
  });
  return ch;
}

http::Response fanout(http::Client& client, const std::string& base, milliseconds timeout, const http::Request& req) {
  std::optional<int> n = int_param(req, "n", 1, 100), ms = int_param(req, "ms", 0, 10000);
  if (!n || !ms) return http::Response::text(400, "want /fanout?n=1..100&ms=0..10000\n");
  auto start = std::chrono::steady_clock::now();
  goro::netpoll::Deadline deadline = start + timeout;
  std::string url = base + "/work?ms=" + std::to_string(*ms);

  // Buffered for every answer: a call that finishes after the deadline
  // sends without blocking and ends; nobody reads it.
  goro::Chan<bool> results(static_cast<size_t>(*n));
  for (int i = 0; i < *n; ++i) {
    goro::go([&client, url, deadline, results] {
      http::ClientResponse r;
      http::ClientStatus st = client.get(url, r, deadline);  // the calls end at the deadline too
      results.send(st.ok() && r.status / 100 == 2);
    });
  }
  goro::Chan<bool> expired = after(deadline);
  int ok = 0, failed = 0;
  while (ok + failed < *n) {
    std::optional<bool> res, tick;
    if (goro::select(goro::on_recv(results, res), goro::on_recv(expired, tick)) == 1) break;
    ++(*res ? ok : failed);
  }
  int timed_out = *n - ok - failed;
  double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  http::Response resp = http::Response::text(
      timed_out ? 504 : failed ? 502 : 200,
      fmt::format("{{\"n\":{},\"ok\":{},\"failed\":{},\"timed_out\":{},\"elapsed_ms\":{:.1f}}}\n", *n, ok, failed,
                  timed_out, elapsed));
  resp.content_type = "application/json";
  return resp;
}

}  // namespace

int main(int argc, char** argv) {
  http::block_shutdown_signals();  // first: every thread started later inherits the mask
  http::Config cfg;  // goroutine mode: the calls are goroutines
  cfg.bind = "127.0.0.1";
  cfg.port = argc > 1 ? std::atoi(argv[1]) : 8082;
  milliseconds timeout(argc > 2 ? std::atoi(argv[2]) : 1000);

  http::Client client;  // one keep-alive pool for every handler
  http::Server server(cfg);
  std::string base;     // set once listen() has the port, before any request
  server.get("/work", [](const http::Request& req, const http::Context&) {
    std::optional<int> ms = int_param(req, "ms", 0, 10000);
    if (!ms) return http::Response::text(400, "want /work?ms=0..10000\n");
    goro::sleep_for(milliseconds(*ms));  // parks the goroutine, like a slow backend
    return http::Response::text(200, "done\n");
  });
  server.get("/fanout", [&](const http::Request& req, const http::Context&) {
    return fanout(client, base, timeout, req);
  });
  server.listen();
  base = "http://127.0.0.1:" + std::to_string(server.port());
  std::printf("fanout: listening on 127.0.0.1:%d, timeout %lld ms\n", server.port(),
              static_cast<long long>(timeout.count()));
  std::fflush(stdout);
  return server.run() ? 0 : 1;  // until SIGINT or SIGTERM
}
