// RequestParser: the llhttp wrapper.  Splitting must never change what is
// parsed; every malformed input must map to its status.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "goro/http/parser.hpp"

using goro::http::ParserLimits;
using goro::http::Request;
using goro::http::RequestParser;
using Event = RequestParser::Event;

namespace {

struct Outcome {
  std::vector<Request> requests;
  int continues = 0;
  int error = 0;
};

// Feeds `chunks` in order as a connection would: each chunk is fed until the
// parser has consumed it, collecting every request handed out.
Outcome run(RequestParser& p, const std::vector<std::string>& chunks) {
  Outcome out;
  for (const auto& chunk : chunks) {
    std::string_view rest = chunk;
    while (!rest.empty() && !out.error) {
      auto step = p.feed(rest);
      rest.remove_prefix(step.consumed);
      if (step.event == Event::request) out.requests.push_back(p.take());
      else if (step.event == Event::expect_continue) ++out.continues;
      else if (step.event == Event::error) out.error = p.error_status();
    }
  }
  return out;
}

Outcome run_whole(const std::string& s, ParserLimits lim = {}) {
  RequestParser p(lim);
  return run(p, {s});
}

void check_same(const Request& a, const Request& b) {
  CHECK(a.method == b.method);
  CHECK(a.target == b.target);
  CHECK(a.version_minor == b.version_minor);
  CHECK(a.body == b.body);
  CHECK(a.keep_alive == b.keep_alive);
  REQUIRE(a.headers.size() == b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    CHECK(a.headers[i].name == b.headers[i].name);
    CHECK(a.headers[i].value == b.headers[i].value);
  }
}

const std::string kGet = "GET /sleep?ms=5 HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n";
const std::string kPost = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
const std::string kChunked =
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n6;ext\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n";

}  // namespace

TEST_CASE("a simple GET parses into method, target, headers and query") {
  auto o = run_whole(kGet);
  REQUIRE(o.requests.size() == 1);
  const Request& r = o.requests[0];
  CHECK(r.method == "GET");
  CHECK(r.path() == "/sleep");
  CHECK(r.query_param("ms") == "5");
  CHECK(r.header("host") != nullptr);
  CHECK(*r.header("HOST") == "example");
  CHECK(r.keep_alive);
  CHECK(r.body.empty());
}

TEST_CASE("chunked bodies with extensions and trailers are de-chunked") {
  auto o = run_whole(kChunked);
  REQUIRE(o.error == 0);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].body == "hello world");
}

TEST_CASE("every request split at every byte boundary parses the same") {
  const std::string batch = kGet + kPost + kChunked + "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  auto whole = run_whole(batch);
  REQUIRE(whole.error == 0);
  REQUIRE(whole.requests.size() == 4);
  for (size_t cut = 1; cut < batch.size(); ++cut) {
    CAPTURE(cut);
    RequestParser p;
    auto split = run(p, {batch.substr(0, cut), batch.substr(cut)});
    REQUIRE(split.error == 0);
    REQUIRE(split.requests.size() == whole.requests.size());
    for (size_t i = 0; i < whole.requests.size(); ++i) check_same(split.requests[i], whole.requests[i]);
  }
  // And one byte at a time.
  RequestParser p;
  std::vector<std::string> bytes;
  for (char c : batch) bytes.emplace_back(1, c);
  auto trickled = run(p, bytes);
  REQUIRE(trickled.requests.size() == whole.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i) check_same(trickled.requests[i], whole.requests[i]);
}

TEST_CASE("a pipelined batch is handed out one request at a time, in order") {
  RequestParser p;
  std::string batch = "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\nGET /c HTTP/1.1\r\nHost: t\r\n\r\n";
  std::string_view rest = batch;
  std::vector<std::string> seen;
  while (!rest.empty()) {
    auto step = p.feed(rest);
    rest.remove_prefix(step.consumed);
    REQUIRE(step.event == Event::request);
    seen.push_back(p.take().target);
  }
  CHECK(seen == std::vector<std::string>{"/a", "/b", "/c"});
}

TEST_CASE("keep-alive follows the HTTP version and the Connection header") {
  CHECK(run_whole("GET / HTTP/1.1\r\nHost: t\r\n\r\n").requests.at(0).keep_alive);
  CHECK_FALSE(run_whole("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
  CHECK_FALSE(run_whole("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
  CHECK(run_whole("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests.at(0).keep_alive);
}

TEST_CASE("Expect: 100-continue pauses before the body") {
  RequestParser p;
  std::string head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  auto step = p.feed(head);
  CHECK(step.event == Event::expect_continue);
  CHECK(step.consumed == head.size());
  CHECK(p.request().expect_continue);
  step = p.feed("abc");
  REQUIRE(step.event == Event::request);
  CHECK(p.take().body == "abc");
  // Without a body there is nothing to wait for.
  RequestParser q;
  CHECK(q.feed("GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n").event == Event::request);
}

TEST_CASE("in_message tells a started request from an idle connection") {
  RequestParser p;
  CHECK_FALSE(p.in_message());
  p.feed("GET / HT");
  CHECK(p.in_message());
  CHECK_FALSE(p.headers_done());
  auto step = p.feed("TP/1.1\r\nHost: t\r\n\r\n");
  CHECK(step.event == Event::request);
  p.take();
  CHECK_FALSE(p.in_message());
}

TEST_CASE("malformed and oversized requests map to their status") {
  ParserLimits lim{.max_header_bytes = 1024, .max_body_bytes = 100};
  struct Case {
    std::string name;
    std::string input;
    int status;
  };
  std::vector<Case> cases = {
      {"garbage", "\x01\x02 nonsense\r\n\r\n", 400},
      // RFC 9110 §9.1: a well-formed method llhttp does not know is 501;
      // methods are case-sensitive, so "get" is one of those.
      {"lowercase method", "get / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
      {"unknown method", "FROB / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
      {"method with a non-token character", "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"HTTP/0.9 (no version)", "GET /\r\n\r\n", 400},
      {"space in header name", "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400},
      {"control byte in header name", "GET / HTTP/1.1\r\nHost: t\r\nBad\x01: x\r\n\r\n", 400},
      {"bad content-length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400},
      {"two content-lengths", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
      {"content-length with chunked", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"bad chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      // RFC 9112 §6.3: chunked not the final coding: the length is unknowable.
      {"unknown transfer coding alone", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked before gzip", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\n\r\n", 505},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: t\r\n\r\n", 405},
      {"unknown expectation", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\nx", 417},
      {"huge header", "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 431},
      {"many headers", "GET / HTTP/1.1\r\nHost: t\r\n" + [] {
         std::string s;
         for (int i = 0; i < 200; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
         return s;
       }() + "\r\n", 431},
      // RFC 9112 §3: a target longer than the server parses MUST get 414.
      {"huge URL", "GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"body over limit by length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413},
      {"chunked body over limit",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'b') + "\r\n40\r\n" +
           std::string(64, 'b') + "\r\n0\r\n\r\n",
       413},
      // RFC 9112 §3.2: Host is required in HTTP/1.1, once, and must be a valid host.
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400},
      {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"two Host headers in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"space inside Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"Host with a bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
      {"Host with a bad percent-encoding", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400},
      {"Host with an unclosed IP literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
      // RFC 9112 §6.1: a transfer coding goro does not implement is a 501,
      // wherever it stands in the list; chunked twice is faulty framing.
      {"gzip before chunked", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"gzip on its own line before chunked",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
      {"chunked twice", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
      // An empty Transfer-Encoding (llhttp does not flag it) is still a
      // Transfer-Encoding whose final coding is not chunked: 400, also when a
      // Content-Length would frame the message otherwise.
      {"empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \r\n\r\n", 400},
      {"empty Transfer-Encoding beside Content-Length",
       "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding:  \r\n\r\nabcd", 400},
      // The limit trips where the bytes cross it, before a bad byte later on.
      {"header name over the limit, then a bad byte",
       "GET / HTTP/1.1\r\nHost: t\r\n" + std::string(2000, 'X') + "@: x\r\n\r\n", 431},
      {"trailer section over the limit",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + std::string(2000, 'a') +
           "\r\n\r\n",
       431},
      // RFC 9110 §5.1: a field name is a token of at least one character.
      {"empty header name", "GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400},
      {"empty header name first", "GET / HTTP/1.1\r\n: x\r\nHost: t\r\n\r\n", 400},
      {"a lone colon", "GET / HTTP/1.1\r\nHost: t\r\n:\r\n\r\n", 400},
      // What llhttp (non-strict) lets through and WireCheck refuses: RFC 9112's
      // grammar, where leniency lets a front end and goro disagree.
      {"bare CR ending the header section", "GET / HTTP/1.1\r\nHost: t\r\n\rX: y\r\n\r\n", 400},
      {"bare CR in the request line", "GET /\rx HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"bare LF in a field line", "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400},
      {"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"trailing space after the version", "GET / HTTP/1.1 \r\nHost: t\r\n\r\n", 400},
      {"two-digit minor version", "GET / HTTP/1.10\r\nHost: t\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
      {"whitespace before the first field", "GET / HTTP/1.1\r\n X: a\r\nHost: t\r\n\r\n", 400},
      {"NUL in a field value", std::string("GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 35), 400},
      {"DEL in a field value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x7f\r\n\r\n", 400},
      {"fragment in the target", "GET /#f HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"non-ASCII in the target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"not one of the four target forms", "GET index.html HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"asterisk-form for GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"userinfo in absolute-form", "GET http://u@h/ HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"chunk data longer than its size",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400},
      {"bare LF after a chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
       400},
      {"spaces after a chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3  \r\nabc\r\n0\r\n\r\n",
       400},
      {"obs-fold in a trailer", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400},
      {"chunk size over the body limit", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413},
      {"major version 2", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      // Nothing but WireCheck bounds a chunk line: 4 KiB each, and all of a
      // message's at most 16 KiB more than twice its data.
      {"a chunk line over 4 KiB", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                      std::string(5000, '0') + "1\r\nx\r\n0\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto o = run_whole(c.input, lim);
    CHECK(o.error == c.status);
    CHECK(o.requests.empty());
    // The same status however the bytes arrive: one at a time here.
    RequestParser p(lim);
    std::vector<std::string> bytes;
    for (char ch : c.input) bytes.emplace_back(1, ch);
    auto trickled = run(p, bytes);
    CHECK(trickled.error == c.status);
    CHECK(trickled.requests.empty());
  }
}

TEST_CASE("errors are sticky until reset") {
  RequestParser p;
  CHECK(p.feed("BAD\x01 / HTTP/1.1\r\nHost: t\r\n\r\n").event == Event::error);
  CHECK(p.feed("GET / HTTP/1.1\r\nHost: t\r\n\r\n").event == Event::error);
  p.reset();
  CHECK(p.feed("GET / HTTP/1.1\r\nHost: t\r\n\r\n").event == Event::request);
}

TEST_CASE("a body exactly at the limit is accepted") {
  ParserLimits lim{.max_header_bytes = 1024, .max_body_bytes = 5};
  auto o = run_whole("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", lim);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].body == "hello");
}

TEST_CASE("Host forms that RFC 9110 allows are accepted") {
  for (std::string host : {"", "example.com", "example.com:8080", "127.0.0.1:80", "[::1]:8080", "[v1.x]", "a%41b",
                           "x_y-z.~!$&'()*+,;=", "example.com "}) {
    CAPTURE(host);
    auto o = run_whole("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    CHECK(o.error == 0);
    CHECK(o.requests.size() == 1);
  }
  // HTTP/1.0 may omit it.
  auto o = run_whole("GET / HTTP/1.0\r\n\r\n");
  CHECK(o.error == 0);
  CHECK(o.requests.size() == 1);
}

TEST_CASE("an absolute-form target routes by its path") {
  auto o = run_whole("GET http://example.com/sleep?ms=5 HTTP/1.1\r\nHost: other\r\n\r\n"
                     "GET HTTP://example.com HTTP/1.1\r\nHost: other\r\n\r\n");
  REQUIRE(o.requests.size() == 2);
  CHECK(o.requests[0].path() == "/sleep");
  CHECK(o.requests[0].query() == "ms=5");
  CHECK(o.requests[1].path() == "/");
}

TEST_CASE("chunk framing may not outweigh the data by much") {
  const std::string head = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto chunks = [](int n, size_t ext) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "1;x=" + std::string(ext, 'e') + "\r\nx\r\n";
    return s + "0\r\n\r\n";
  };
  // 1,000 one-byte chunks with 40-byte extensions: ~47 KiB of framing for 1 KB.
  CHECK(run_whole(head + chunks(1000, 40)).error == 400);
  // The same chunks with short extensions stay within 16 KiB + twice the data.
  auto o = run_whole(head + chunks(1000, 1));
  CHECK(o.error == 0);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].body == std::string(1000, 'x'));
}

TEST_CASE("HTTP/1.2 is served as HTTP/1.1 (RFC 9110 §2.5)") {
  auto o = run_whole("GET / HTTP/1.2\r\nHost: t\r\n\r\n");
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].version_minor == 2);
  CHECK(o.requests[0].keep_alive);
}

TEST_CASE("trailer fields are read but not merged into the headers (RFC 9110 §6.5.1)") {
  auto o = run_whole("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nhi\r\n0\r\nContent-Type: text/evil\r\n\r\n");
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].body == "hi");
  CHECK(o.requests[0].header("Content-Type") == nullptr);
}

TEST_CASE("an empty header value is a header, not the start of the next name") {
  auto o = run_whole("GET / HTTP/1.1\r\nHost: t\r\nX-Empty:\r\nX-Next: v\r\n\r\n");
  REQUIRE(o.requests.size() == 1);
  const auto& r = o.requests[0];
  REQUIRE(r.header("X-Empty"));
  CHECK(r.header("X-Empty")->empty());
  REQUIRE(r.header("X-Next"));
  CHECK(*r.header("X-Next") == "v");
}
