// goro/http/client.hpp — an outbound HTTP/1.1 client on goro::netpoll.
//
//   goro::http::Client c;                       // one per process is plenty
//   goro::http::ClientResponse r;
//   auto st = c.get("http://127.0.0.1:8080/sleep?ms=10", r,
//                   goro::netpoll::deadline_in(std::chrono::seconds(1)));
//   if (st.ok()) use(r.status, r.body); else log(goro::http::to_string(st.code), st.message);
//
// Like every goro primitive it parks the calling goroutine (connect, write
// and read wait on netpoll) and blocks the calling OS thread elsewhere
// (thread and pool modes, plain programs): the same code either way.  A
// host name is looked up with getaddrinfo, which blocks: in a goroutine it
// runs through goro::blocking, so the worker serves others meanwhile.
//
// Errors are values (ClientStatus), never exceptions — a malformed URL
// included (`invalid`), so a URL that comes from outside needs no try:
//   invalid     — the call cannot be made as given: not an http:// URL goro
//                 can call (https, no host, a bad port), or a CR or LF in a
//                 header; nothing was sent;
//   refused     — nobody listens there (ECONNREFUSED) at any of its addresses;
//   unavailable — no connection otherwise (the name does not resolve, the
//                 network is unreachable), or it broke before the response
//                 was whole (reset, or closed mid-response);
//   timeout     — a deadline passed first (connect, write, read, or the
//                 caller's own);
//   protocol    — the response is not HTTP/1.x as RFC 9112 frames it, or a
//                 redirect could not be followed (see max_redirects);
//   too_large   — the response (status line, headers and body) exceeds
//                 ClientOptions::max_response_bytes.
//
// Keep-alive: a connection whose response was whole and which the server
// keeps open goes back to a pool per host:port (at most max_idle_per_host
// idle ones, most recently used first).  A pooled connection may have been
// closed by the server meanwhile: one found readable while idle (EOF or
// stray bytes) is dropped before use; if it dies on the request anyway
// (write refused, or EOF/reset before the first response byte) an
// idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) is sent once
// more on a fresh connection — the server cannot have acted on it — and any
// other request fails with `unavailable`.
//
// Responses: Content-Length, chunked and close-delimited bodies (llhttp in
// response mode); HEAD responses and 1xx/204/304 have none; interim 1xx
// responses are skipped.  Redirects are not followed unless
// ClientOptions::max_redirects says so.  Thread-safe: any number of
// goroutines and threads may share one Client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "goro/http/request.hpp"
#include "goro/netpoll/deadline.hpp"

namespace goro::http {

/// What went wrong with a client call; see the file comment.
enum class ClientErrc { ok, invalid, refused, unavailable, timeout, protocol, too_large };

/// "ok", "invalid", "refused", "unavailable", "timeout", "protocol", "too_large".
const char* to_string(ClientErrc e) noexcept;

/// The outcome of a client call: a code to branch on and words for people.
struct ClientStatus {
  ClientErrc code = ClientErrc::ok;  ///< what kind of failure, or ok
  std::string message;               ///< what failed and why ("connect 127.0.0.1:9: Connection refused")
  /// True when the call succeeded (whatever the HTTP status).
  bool ok() const noexcept { return code == ClientErrc::ok; }
};

/// An http:// URL split for a request.
struct Url {
  std::string host;       ///< a name or a numeric address (an IPv6 one without brackets)
  int port = 80;          ///< the URL's port, else 80
  std::string target;     ///< origin-form: "/path?query" ("/" when the URL has no path)
  /// The Host header's value: "host", or "host:port" for a port other than
  /// 80, with an IPv6 address in brackets.
  std::string authority() const;
  /// Parses "http://host[:port][/path][?query]" (a fragment is dropped).
  /// `invalid`, with the reason, for anything else (https:// included).
  static ClientStatus parse(std::string_view url, Url& out);
};

/// Limits and deadlines of a Client.  Each timeout bounds one phase of a
/// request (milliseconds::max(): unbounded); the deadline a call passes
/// bounds the whole of it as well.
struct ClientOptions {
  /// Name lookup and TCP connect, per new connection.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  /// Sending the whole request.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  /// The whole response, from the end of the request to its last byte (one
  /// deadline, not per read: a server trickling bytes cannot extend it).
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  /// Status line, headers and body together; more is `too_large`.
  std::size_t max_response_bytes = 16 << 20;
  /// Idle keep-alive connections kept per host:port.  0 disables keep-alive.
  std::size_t max_idle_per_host = 16;
  /// An idle connection older than this is closed rather than reused
  /// (servers drop idle connections too: goro after --idle-timeout).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(50)};
  /// Redirects (301, 302, 303, 307, 308 with a Location) followed per call;
  /// 0 returns them as responses.  One more than this is `protocol`.  A 303
  /// (and a 301/302 answering a POST) is followed with a GET, as browsers do.
  int max_redirects = 0;
  /// The User-Agent header sent with every request ("" sends none).
  std::string user_agent = "goro";
};

/// One request.  `Host`, `Content-Length` and `User-Agent` are the
/// client's: do not put them in `headers`.
struct ClientRequest {
  std::string method = "GET";  ///< request method
  std::string url;             ///< http:// URL
  std::vector<Header> headers; ///< extra headers
  std::string body;            ///< sent with a Content-Length when non-empty or when the method is POST/PUT/PATCH
  /// The whole call, redirects and a retry included (kNoDeadline: only the
  /// options' timeouts bound it).
  netpoll::Deadline deadline = netpoll::kNoDeadline;
};

/// A whole response.
struct ClientResponse {
  int status = 0;                ///< 200, 404, ...
  int version_minor = 1;         ///< HTTP/1.x
  std::vector<Header> headers;   ///< in the order received
  std::string body;              ///< de-chunked
  /// First header with this name (ASCII case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

/// Counters of a Client's connections (relaxed; for tests and metrics).
struct ClientStats {
  std::uint64_t dials = 0;    ///< connections opened
  std::uint64_t reuses = 0;   ///< requests sent on a pooled connection
  std::uint64_t retries = 0;  ///< requests sent again after a pooled connection died under them
  std::size_t idle = 0;       ///< connections idle in the pool now
};

/// An HTTP/1.1 client with a keep-alive pool; see the file comment.
class Client {
 public:
  /// A client with these limits; opens nothing until the first call.
  explicit Client(ClientOptions opts = {});
  /// Closes the idle connections.  No call may be in flight.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `req` and reads the whole response into `out` (cleared first).
  ClientStatus send(const ClientRequest& req, ClientResponse& out);
  /// GET `url`, bounded by `d` as well as by the options' timeouts.
  ClientStatus get(std::string_view url, ClientResponse& out, netpoll::Deadline d = netpoll::kNoDeadline);

  /// Closes every idle connection.
  void close_idle();
  /// The counters, and the idle connections now.
  ClientStats stats() const;
  /// The options this client was made with.
  const ClientOptions& options() const { return opts_; }

 private:
  struct Pool;  // server/src/client.cpp
  // One request and its response at `u`, on a pooled connection or a new
  // one, sent once more on a new one if a pooled connection died under it.
  ClientStatus exchange(const Url& u, std::string_view method, std::string_view body, const ClientRequest& req,
                        ClientResponse& out);
  ClientOptions opts_;
  std::unique_ptr<Pool> pool_;
  std::atomic<std::uint64_t> dials_{0}, reuses_{0}, retries_{0};
};

}  // namespace goro::http
