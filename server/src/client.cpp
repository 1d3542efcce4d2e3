// goro::http::Client: an exchange is dial-or-take, write the request, read
// the response through llhttp (HTTP_RESPONSE mode), then pool or close.
//
// Invariants:
//   - A connection is in the pool only between exchanges, with no unread
//     byte owed to an earlier response (the response was whole, the server
//     keeps it open and sent nothing after it); whoever takes it owns it
//     alone until it is put back.
//   - The pool's lock is held only to push or pop: never across I/O, a
//     lookup or a close().
//   - "Stale" (send it again) is decided only for a pooled connection that
//     failed before the first byte of a response arrived: the server cannot
//     have answered, so an idempotent request may be repeated.
#include "goro/http/client.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <llhttp.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "goro/netpoll/conn.hpp"
#include "goro/runtime.hpp"

namespace goro::http {

using netpoll::Clock;
using netpoll::Conn;
using netpoll::Deadline;

const char* to_string(ClientErrc e) noexcept {
  switch (e) {
    case ClientErrc::ok: return "ok";
    case ClientErrc::invalid: return "invalid";
    case ClientErrc::refused: return "refused";
    case ClientErrc::unavailable: return "unavailable";
    case ClientErrc::timeout: return "timeout";
    case ClientErrc::protocol: return "protocol";
    case ClientErrc::too_large: return "too_large";
  }
  return "?";
}

namespace {

ClientStatus fail(ClientErrc c, std::string message) { return {c, std::move(message)}; }

// The earlier of `d` and `t` from now.
Deadline within(Deadline d, std::chrono::milliseconds t) {
  if (t == std::chrono::milliseconds::max()) return d;
  return std::min(d, Clock::now() + t);
}

// A failed socket call (-errno in `err`) as a status: "<what> <where>: <why>".
ClientStatus io_error(int err, std::string_view what, std::string_view where) {
  ClientErrc c = err == ETIMEDOUT ? ClientErrc::timeout
                 : err == ECONNREFUSED ? ClientErrc::refused
                                       : ClientErrc::unavailable;
  return fail(c, fmt::format("{} {}: {}", what, where, err == ETIMEDOUT ? "timed out" : std::strerror(err)));
}

bool is_numeric_address(const std::string& host) {
  unsigned char a[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), a) == 1 || ::inet_pton(AF_INET6, host.c_str(), a) == 1;
}

// A reg-name's characters (RFC 3986 unreserved and sub-delims, no
// percent-encoding: a name that needs it cannot be looked up anyway).
bool is_name_char(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || std::strchr("-._~!$&'()*+,;=", c);
}

// A request's method may be repeated when the server cannot have seen it
// (RFC 9110 §9.2.2).
bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE";
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// The numeric addresses of u.host, in getaddrinfo's order.  A name's lookup
// blocks: in a goroutine it runs on a goro::blocking helper thread.
ClientStatus resolve(const Url& u, std::vector<std::string>& out) {
  if (is_numeric_address(u.host)) {
    out = {u.host};
    return {};
  }
  auto lookup = [&u, &out]() -> int {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    int r = ::getaddrinfo(u.host.c_str(), nullptr, &hints, &res);
    if (r != 0) return r;
    for (addrinfo* a = res; a; a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN];
      const void* addr = a->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
      if (::inet_ntop(a->ai_family, addr, buf, sizeof buf)) out.emplace_back(buf);
    }
    ::freeaddrinfo(res);
    return 0;
  };
  if (int r = goro::blocking(lookup); r != 0) {
    return fail(ClientErrc::unavailable,
                fmt::format("lookup {}: {}", u.host, r == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(r)));
  }
  if (out.empty()) return fail(ClientErrc::unavailable, fmt::format("lookup {}: no address", u.host));
  return {};
}

// Connects to one of u's addresses, in order, until one answers.
ClientStatus dial(const Url& u, Deadline d, Conn& out) {
  std::vector<std::string> addrs;
  if (auto st = resolve(u, addrs); !st.ok()) return st;
  ClientStatus last;
  for (const std::string& a : addrs) {
    int r = Conn::connect(out, a, u.port, d);
    if (r == 0) return {};
    last = io_error(-r, "connect", a.find(':') == std::string::npos ? fmt::format("{}:{}", a, u.port)
                                                                     : fmt::format("[{}]:{}", a, u.port));
    if (r == -ETIMEDOUT) break;  // the deadline is spent for every other address too
  }
  return last;
}

// llhttp in response mode, filling one ClientResponse.  A response
// complete pauses the parser, so bytes after it are noticed (and the
// connection is then not reused).
class ResponseParser {
 public:
  ResponseParser(ClientResponse& out, bool head) : out_(out), head_(head) {
    llhttp_init(&p_, HTTP_RESPONSE, &settings_);
    p_.data = this;
  }
  llhttp_t* get() { return &p_; }
  bool complete() const { return complete_; }
  const char* error() const { return why_; }

 private:
  static ResponseParser& self(llhttp_t* p) { return *static_cast<ResponseParser*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    ResponseParser& s = self(p);
    s.out_.headers.clear();  // an interim 1xx's headers are not the final response's
    s.out_.body.clear();
    return 0;
  }
  static int on_header_field(llhttp_t* p, const char* at, size_t n) {
    ResponseParser& s = self(p);
    if (!s.in_field_) s.out_.headers.push_back({});
    s.in_field_ = true;
    s.out_.headers.back().name.append(at, n);
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, size_t n) {
    ResponseParser& s = self(p);
    s.in_field_ = false;
    s.out_.headers.back().value.append(at, n);
    return 0;
  }
  static int on_header_value_complete(llhttp_t* p) {
    self(p).in_field_ = false;
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    ResponseParser& s = self(p);
    s.in_field_ = false;
    s.out_.status = llhttp_get_status_code(p);
    s.out_.version_minor = llhttp_get_http_minor(p);
    if (llhttp_get_http_major(p) != 1) {
      s.why_ = "not an HTTP/1.x response";
      return -1;
    }
    // No body, whatever Content-Length says, after HEAD (RFC 9110 §9.3.2)
    // and in 1xx, 204 and 304 (RFC 9112 §6.3).  llhttp leaves this to its
    // caller: 1 means "no body".
    int st = s.out_.status;
    return s.head_ || st < 200 || st == 204 || st == 304 ? 1 : 0;
  }
  static int on_body(llhttp_t* p, const char* at, size_t n) {
    self(p).out_.body.append(at, n);
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    ResponseParser& s = self(p);
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    if (s.out_.status >= 100 && s.out_.status < 200 && s.out_.status != 101) return 0;
    s.complete_ = true;
    return HPE_PAUSED;
  }

  static const llhttp_settings_t settings_;
  llhttp_t p_;
  ClientResponse& out_;
  const bool head_;
  bool in_field_ = false;
  bool complete_ = false;
  const char* why_ = nullptr;
};

const llhttp_settings_t ResponseParser::settings_ = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &ResponseParser::on_message_begin;
  s.on_header_field = &ResponseParser::on_header_field;
  s.on_header_value = &ResponseParser::on_header_value;
  s.on_header_value_complete = &ResponseParser::on_header_value_complete;
  s.on_headers_complete = &ResponseParser::on_headers_complete;
  s.on_body = &ResponseParser::on_body;
  s.on_message_complete = &ResponseParser::on_message_complete;
  return s;
}();

// What one round trip on a connection came to, besides its status.
struct Trip {
  bool stale = false;  // a pooled connection died before any response byte: send again
  bool keep = false;   // the connection may serve another request
};

// Writes the request on c and reads the whole response into out.
ClientStatus round_trip(Conn& c, bool reused, const Url& u, std::string_view method, std::string_view body,
                        const ClientRequest& req, const ClientOptions& o, ClientResponse& out, Trip& trip) {
  const std::string where = fmt::format("{} http://{}{}", method, u.authority(), u.target);
  fmt::memory_buffer head;
  auto h = std::back_inserter(head);
  fmt::format_to(h, "{} {} HTTP/1.1\r\nHost: {}\r\n", method, u.target, u.authority());
  if (!o.user_agent.empty()) fmt::format_to(h, "User-Agent: {}\r\n", o.user_agent);
  for (const Header& x : req.headers) fmt::format_to(h, "{}: {}\r\n", x.name, x.value);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    fmt::format_to(h, "Content-Length: {}\r\n", body.size());
  fmt::format_to(h, "\r\n");
  const iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  if (int r = c.write_all(iov, within(req.deadline, o.write_timeout)); r < 0) {
    // The server closed a pooled connection as we wrote: it saw nothing.
    trip.stale = reused && (r == -EPIPE || r == -ECONNRESET);
    return io_error(-r, "write", where);
  }

  const Deadline d = within(req.deadline, o.read_timeout);
  ResponseParser parser(out, method == "HEAD");
  std::array<char, 8192> buf;
  std::size_t total = 0;
  for (;;) {
    ssize_t n = c.read(buf, d);
    if (n < 0) {
      trip.stale = reused && total == 0 && n == -ECONNRESET;
      return io_error(static_cast<int>(-n), "read", where);
    }
    if (n == 0) {
      // A close-delimited body ends here; anything else is cut short.
      llhttp_errno_t e = llhttp_finish(parser.get());
      if ((e == HPE_OK || e == HPE_PAUSED) && parser.complete()) return {};
      trip.stale = reused && total == 0;
      return fail(ClientErrc::unavailable,
                  fmt::format("read {}: connection closed {}", where,
                              total == 0 ? "before a response" : "before the response was complete"));
    }
    total += static_cast<std::size_t>(n);
    if (total > o.max_response_bytes)
      return fail(ClientErrc::too_large, fmt::format("read {}: response over {} bytes", where, o.max_response_bytes));
    llhttp_errno_t e = llhttp_execute(parser.get(), buf.data(), static_cast<std::size_t>(n));
    if (e == HPE_OK) continue;
    if (e == HPE_PAUSED && parser.complete()) {
      const char* stop = llhttp_get_error_pos(parser.get());
      trip.keep = stop == buf.data() + n && llhttp_should_keep_alive(parser.get());
      return {};
    }
    if (e == HPE_PAUSED_UPGRADE) return fail(ClientErrc::protocol, fmt::format("read {}: unexpected upgrade", where));
    const char* why = parser.error() ? parser.error() : llhttp_get_error_reason(parser.get());
    return fail(ClientErrc::protocol, fmt::format("read {}: malformed response: {}", where, why ? why : llhttp_errno_name(e)));
  }
}

// Where a Location header points, from the URL it answered.
ClientStatus follow(const Url& from, const std::string& location, Url& to) {
  if (location.find("://") != std::string::npos) return Url::parse(location, to);
  if (location.starts_with("//")) return Url::parse("http:" + location, to);
  to = from;
  if (location.starts_with('/')) {
    to.target = location;
  } else {  // relative to the answering path's directory
    std::string_view base = std::string_view(from.target).substr(0, from.target.find('?'));
    to.target = std::string(base.substr(0, base.rfind('/') + 1)) + location;
  }
  if (has_crlf(to.target) || to.target.find(' ') != std::string::npos)
    return fail(ClientErrc::invalid, fmt::format("redirect to an invalid location: {}", location));
  return {};
}

}  // namespace

// ---- Url -------------------------------------------------------------------

std::string Url::authority() const {
  bool v6 = host.find(':') != std::string::npos;
  if (port == 80) return v6 ? "[" + host + "]" : host;
  return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

ClientStatus Url::parse(std::string_view url, Url& out) {
  auto bad = [url](std::string_view why) { return fail(ClientErrc::invalid, fmt::format("{}: {}", url, why)); };
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("not an absolute URL (http://host[:port]/path)");
  std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "https")) return bad("https is not supported (goro's client speaks plain HTTP only)");
  if (!iequals(scheme, "http")) return bad("only http:// URLs are supported");
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find('#'));
  size_t end = rest.find_first_of("/?");
  std::string_view auth = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (auth.find('@') != std::string_view::npos) return bad("user information in a URL is not supported");

  Url u;
  std::string_view port;
  if (auth.starts_with('[')) {
    size_t close = auth.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address without its closing ]");
    u.host = auth.substr(1, close - 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty() && after[0] != ':') return bad("junk after the IPv6 address");
    if (!after.empty()) port = after.substr(1);
    unsigned char a[sizeof(in6_addr)];
    if (::inet_pton(AF_INET6, u.host.c_str(), a) != 1) return bad("not an IPv6 address in [ ]");
  } else {
    size_t colon = auth.find(':');
    u.host = auth.substr(0, colon);
    if (colon != std::string_view::npos) port = auth.substr(colon + 1);
    if (port.find(':') != std::string_view::npos) return bad("an IPv6 address must be in [ ]");
    for (char& c : u.host) {
      if (!is_name_char(static_cast<unsigned char>(c))) return bad("invalid character in the host");
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // one pool per host, however spelled
    }
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc{} || p != port.data() + port.size() || u.port < 1 || u.port > 65535)
      return bad("the port must be a number from 1 to 65535");
  }
  for (char c : target)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad("spaces or control characters (percent-encode them)");
  u.target = target.empty() ? "/" : target.starts_with('?') ? "/" + std::string(target) : std::string(target);
  out = std::move(u);
  return {};
}

const std::string* ClientResponse::header(std::string_view name) const {
  for (const Header& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

// ---- the pool --------------------------------------------------------------

struct Client::Pool {
  struct Idle {
    Conn conn;
    Clock::time_point since;
  };

  // A live-looking idle connection to `key`, most recently used first;
  // false if there is none.  Closes the ones it finds expired or readable
  // (the server closed them, or sent what no request asked for).
  bool take(const std::string& key, std::chrono::milliseconds max_idle, Conn& out) {
    for (;;) {
      Idle got;
      {
        std::lock_guard l(mu);
        auto it = idle.find(key);
        if (it == idle.end() || it->second.empty()) return false;
        got = std::move(it->second.back());
        it->second.pop_back();
      }
      if (Clock::now() - got.since < max_idle && !got.conn.readable_now()) {
        out = std::move(got.conn);
        return true;
      }
    }  // `got` closes as it goes out of scope, outside the lock
  }

  // Keeps c for reuse if `key` has fewer than `cap` idle connections;
  // otherwise leaves it to the caller, who closes it outside the lock.
  void put(const std::string& key, std::size_t cap, Conn& c) {
    std::lock_guard l(mu);
    auto& v = idle[key];
    if (v.size() < cap) v.push_back({std::move(c), Clock::now()});
  }

  std::mutex mu;
  std::unordered_map<std::string, std::vector<Idle>> idle;  // guarded by mu
};

// ---- Client ----------------------------------------------------------------

Client::Client(ClientOptions opts) : opts_(std::move(opts)), pool_(std::make_unique<Pool>()) {}

Client::~Client() = default;

ClientStatus Client::get(std::string_view url, ClientResponse& out, Deadline d) {
  ClientRequest req;
  req.url = url;
  req.deadline = d;
  return send(req, out);
}

ClientStatus Client::send(const ClientRequest& req, ClientResponse& out) {
  out = {};
  if (has_crlf(req.method) || req.method.empty()) return fail(ClientErrc::invalid, "invalid method");
  for (const Header& h : req.headers)
    if (h.name.empty() || has_crlf(h.name) || has_crlf(h.value) || h.name.find(':') != std::string::npos)
      return fail(ClientErrc::invalid, fmt::format("invalid header {:?}", h.name));
  Url u;
  if (auto st = Url::parse(req.url, u); !st.ok()) return st;
  std::string method = req.method;
  std::string_view body = req.body;
  for (int redirects = 0;; ++redirects) {
    ClientStatus st = exchange(u, method, body, req, out);
    if (!st.ok() || opts_.max_redirects == 0 || !is_redirect(out.status)) return st;
    const std::string* location = out.header("Location");
    if (!location) return st;  // a 3xx without a Location is an answer, not a redirect
    if (redirects == opts_.max_redirects)
      return fail(ClientErrc::protocol, fmt::format("{}: stopped after {} redirects", req.url, redirects));
    Url next;
    if (auto f = follow(u, *location, next); !f.ok())
      return fail(ClientErrc::protocol, fmt::format("redirect from {}: {}", req.url, f.message));
    if (out.status == 303 || ((out.status == 301 || out.status == 302) && method == "POST")) {
      method = "GET";
      body = {};
    }
    u = std::move(next);
  }
}

ClientStatus Client::exchange(const Url& u, std::string_view method, std::string_view body, const ClientRequest& req,
                              ClientResponse& out) {
  const std::string key = fmt::format("{}:{}", u.host, u.port);
  for (bool fresh = false;; fresh = true) {
    Conn c;
    bool reused = !fresh && pool_->take(key, opts_.idle_timeout, c);
    if (reused) {
      reuses_.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (auto st = dial(u, within(req.deadline, opts_.connect_timeout), c); !st.ok()) return st;
      dials_.fetch_add(1, std::memory_order_relaxed);
    }
    out = {};
    Trip trip;
    ClientStatus st = round_trip(c, reused, u, method, body, req, opts_, out, trip);
    if (trip.stale && idempotent(method)) {
      retries_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (st.ok() && trip.keep && opts_.max_idle_per_host > 0) pool_->put(key, opts_.max_idle_per_host, c);
    return st;
  }
}

void Client::close_idle() {
  decltype(pool_->idle) gone;
  {
    std::lock_guard l(pool_->mu);
    gone.swap(pool_->idle);
  }
}

ClientStats Client::stats() const {
  ClientStats s{dials_.load(std::memory_order_relaxed), reuses_.load(std::memory_order_relaxed),
                retries_.load(std::memory_order_relaxed), 0};
  std::lock_guard l(pool_->mu);
  for (const auto& [key, v] : pool_->idle) s.idle += v.size();
  return s;
}

}  // namespace goro::http
