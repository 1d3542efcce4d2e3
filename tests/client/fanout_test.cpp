// GET /fanout end to end: the real goro binary in $GORO_TEST_MODE (CTest
// runs this once per mode), a raw-socket client, and for the deadline a
// second goro as the slow upstream.  Contract: goro/http/fanout.hpp.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "http_client.hpp"
#include "refusing_port.hpp"
#include "server_process.hpp"
#include "wait.hpp"

using goro::test::get;
using goro::test::ServerProcess;
using goro::test::test_mode;

namespace {

// The integer after "key": in a JSON body, or -1.
long long field(const std::string& body, const std::string& key) {
  size_t at = body.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  at = body.find_first_not_of(' ', at + key.size() + 3);
  return std::stoll(body.substr(at));
}

// What the server has that a leaked call would add to: its goroutines in
// goroutine mode (/debug/vars), its OS threads otherwise (/proc).
long long live_tasks(const ServerProcess& s) {
  if (test_mode() == "goroutine") {
    auto r = get(s.port(), "/debug/vars");
    REQUIRE(r);
    return field(r->body, "goroutines");
  }
  std::ifstream status("/proc/" + std::to_string(s.pid()) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("Threads:")) return std::stoll(line.substr(8));
  return -1;
}

std::string base(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

TEST_CASE("fanout: n calls to the server's own /sleep, all back: 200 and the counts") {
  ServerProcess s({"--fanout-timeout", "60s"});  // a guard only: sanitizers make 100 calls slow
  auto r = get(s.port(), "/fanout?n=5&ms=10");
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(r->header("Content-Type"));
  CHECK(*r->header("Content-Type") == "application/json");
  CHECK(field(r->body, "n") == 5);
  CHECK(field(r->body, "ms") == 10);
  CHECK(field(r->body, "ok") == 5);
  CHECK(field(r->body, "failed") == 0);
  CHECK(field(r->body, "timed_out") == 0);
  CHECK(field(r->body, "elapsed_ms") >= 10);  // the calls slept 10 ms, concurrently or not
  // n sub-requests reached the server as /sleep.
  auto vars = get(s.port(), "/debug/vars");
  REQUIRE(vars);
  CHECK(field(vars->body, "requests") >= 1 + 5);
}

TEST_CASE("fanout: bad parameters are 400") {
  ServerProcess s({"--fanout-timeout", "60s"});  // a guard only: sanitizers make 100 calls slow
  for (const char* q : {"", "?n=5", "?ms=5", "?n=0&ms=1", "?n=101&ms=1", "?n=5&ms=10001", "?n=x&ms=1",
                        "?n=5&ms=-1", "?n=5&ms=", "?n=1.5&ms=1"}) {
    CAPTURE(q);
    auto r = get(s.port(), std::string("/fanout") + q);
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  auto r = get(s.port(), "/fanout?n=100&ms=0");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(field(r->body, "ok") == 100);
}

TEST_CASE("fanout: an upstream that refuses is 502; an unusable --upstream stops the start") {
  goro::test::RefusingPort refusing;  // every connect is refused
  {
    ServerProcess s({"--upstream", base(refusing.port()) + "/anything", "--fanout-timeout", "60s"});
    auto r = get(s.port(), "/fanout?n=3&ms=0");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(field(r->body, "failed") == 3);
    CHECK(field(r->body, "ok") == 0);
  }
  CHECK_THROWS(ServerProcess({"--upstream", "https://127.0.0.1/"}));
}

TEST_CASE("fanout: an upstream slower than --fanout-timeout: 504 at the deadline, and nothing left behind") {
  // The upstream: another goro, whose /sleep outlasts the deadline.  {ms}
  // in the URL is where the request's ms goes.
  ServerProcess upstream;
  ServerProcess s({"--upstream", base(upstream.port()) + "/sleep?ms={ms}", "--fanout-timeout", "200ms"});

  // A quick one first: whatever the first /fanout starts once is running
  // before the baseline is taken.
  auto warm = get(s.port(), "/fanout?n=2&ms=0");
  REQUIRE(warm);
  CHECK(warm->status == 200);
  long long baseline = live_tasks(s);
  REQUIRE(baseline > 0);

  auto r = get(s.port(), "/fanout?n=5&ms=5000");
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK(field(r->body, "timed_out") == 5);
  CHECK(field(r->body, "ok") == 0);
  // Every call ends at the deadline (its own too) and its goroutine or
  // thread exits: the count comes back, long before the upstream's 5 s.
  // (At most: a connection of an earlier look may still have been closing
  // when the baseline was taken.)
  goro::test::thread_wait_until([&] { return live_tasks(s) <= baseline; },
                                "the server's goroutines/threads back to their count before the request");
}
