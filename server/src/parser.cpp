#include "goro/http/parser.hpp"

#include <utility>

namespace goro::http {

namespace {

RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

// The one mapping from llhttp's error codes to the status we answer with.
int status_for(llhttp_errno_t e) {
  switch (e) {
    case HPE_INVALID_VERSION:
      return 505;  // HTTP Version Not Supported
    default:
      return 400;
  }
}

// Request line's fixed parts ("GET  HTTP/1.1\r\n") and per-header ": \r\n":
// counted so the limit is on what the client sent, not just names and values.
constexpr size_t kRequestLineOverhead = 16;
constexpr size_t kHeaderLineOverhead = 4;

// RFC 9110 token characters: what a header name may contain.  llhttp as
// Debian builds it (not strict mode) lets spaces through, which opens the
// door to request smuggling behind a proxy that reads names differently.
bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_hex(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// RFC 3986 unreserved / sub-delims: what a reg-name (and an IPvFuture
// literal, with ':') may hold besides percent-encodings.
bool is_host_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                                    // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=':                                    // sub-delims
      return true;
    default:
      return false;
  }
}

// Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2).  Empty is
// valid: a target without an authority is sent with an empty Host.
bool valid_host(std::string_view v) {
  size_t i = 0;
  if (!v.empty() && v[0] == '[') {  // IP-literal: [IPv6] or [vX.future]
    size_t close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (i = 1; i < close; ++i)
      if (!is_host_char(static_cast<unsigned char>(v[i])) && v[i] != ':') return false;
    i = close + 1;
  } else {
    for (; i < v.size() && v[i] != ':'; ++i) {
      auto c = static_cast<unsigned char>(v[i]);
      if (c == '%') {
        if (i + 2 >= v.size() || !is_hex(static_cast<unsigned char>(v[i + 1])) ||
            !is_hex(static_cast<unsigned char>(v[i + 2])))
          return false;
        i += 2;
      } else if (!is_host_char(c)) {
        return false;
      }
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':') return false;
  for (++i; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The request's transfer codings, every Transfer-Encoding line in order:
// 0 when it may be framed as llhttp framed it (only "chunked", once), else
// the status.  (llhttp's own HPE_INVALID_TRANSFER_ENCODING, "chunked is not
// the final coding", is a 400 too, through status_for's default.)  400 when
// chunked is not the last coding (the length cannot
// be known: RFC 9112 §6.3, a MUST), is applied twice, or a list element is
// empty; otherwise 501 for a coding goro does not implement (§6.1).
int check_transfer_codings(const Request& r) {
  int chunked = 0;
  bool unknown = false, last_chunked = false;
  for (const auto& h : r.headers) {
    if (!iequals(h.name, "Transfer-Encoding")) continue;
    std::string_view rest = h.value;
    for (;;) {
      size_t comma = rest.find(',');
      std::string_view coding = trim_ows(rest.substr(0, comma));
      if (coding.empty()) return 400;
      last_chunked = iequals(coding, "chunked");
      chunked += last_chunked;
      unknown |= !last_chunked;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (!last_chunked || chunked > 1) return 400;
  return unknown ? 501 : 0;
}

}  // namespace

const llhttp_settings_t RequestParser::settings_ = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_url = &RequestParser::on_url;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_field_complete = &RequestParser::on_header_field_complete;
  s.on_header_value = &RequestParser::on_header_value;
  s.on_header_value_complete = &RequestParser::on_header_value_complete;
  s.on_headers_complete = &RequestParser::on_headers_complete;
  s.on_body = &RequestParser::on_body;
  s.on_message_complete = &RequestParser::on_message_complete;
  return s;
}();

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) { reset(); }

void RequestParser::reset() {
  llhttp_init(&p_, HTTP_REQUEST, &settings_);
  p_.data = this;
  req_ = Request{};
  header_bytes_ = 0;
  in_message_ = headers_done_ = complete_ = in_name_ = in_value_ = false;
  error_status_ = 0;
  error_reason_ = "";
}

int RequestParser::fail(int status, const char* reason) {
  error_status_ = status;
  error_reason_ = reason;
  llhttp_set_error_reason(&p_, reason);
  return HPE_USER;
}

bool RequestParser::count_header_bytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= limits_.max_header_bytes;
}

int RequestParser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.req_ = Request{};
  s.header_bytes_ = kRequestLineOverhead;
  s.in_message_ = true;
  s.headers_done_ = s.complete_ = s.in_name_ = s.in_value_ = false;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.count_header_bytes(n)) return s.fail(431, "request line too large");
  s.req_.target.append(at, n);
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.count_header_bytes(n)) return s.fail(431, "header block too large");
  for (size_t i = 0; i < n; ++i)
    if (!is_token_char(static_cast<unsigned char>(at[i]))) return s.fail(400, "invalid character in header name");
  // llhttp may deliver a name in pieces; the first piece starts a header.
  if (!s.in_name_) {
    if (!s.count_header_bytes(kHeaderLineOverhead)) return s.fail(431, "header block too large");
    s.req_.headers.emplace_back();
    s.in_name_ = true;
  }
  s.req_.headers.back().name.append(at, n);
  return 0;
}

int RequestParser::on_header_field_complete(llhttp_t* p) {
  auto& s = self(p);
  // A field line with nothing before the colon (": x") has no name: the
  // name callback never ran.  field-name is a token, at least one character
  // (RFC 9110 §5.1), and an invalid field line is a 400 (RFC 9112 §5).
  if (!s.in_name_ || s.req_.headers.back().name.empty()) return s.fail(400, "empty header name");
  s.in_name_ = false;
  s.in_value_ = true;
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.in_value_) return s.fail(400, "header value without a name");
  if (!s.count_header_bytes(n)) return s.fail(431, "header block too large");
  s.req_.headers.back().value.append(at, n);
  return 0;
}

int RequestParser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  if (!s.in_value_) return s.fail(400, "empty header name");  // ":" alone, no value either
  s.in_value_ = false;
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  auto& r = s.req_;
  s.headers_done_ = true;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  r.version_major = llhttp_get_http_major(p);
  r.version_minor = llhttp_get_http_minor(p);
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  if (r.version_major != 1) return s.fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  if (r.method == "CONNECT") return s.fail(405, "CONNECT is not supported");
  if (llhttp_get_upgrade(p)) r.keep_alive = false;  // we answer, then close

  // Host (RFC 9112 §3.2): an HTTP/1.1 request without one, any request with
  // more than one, or one whose value is not a valid host gets 400.  With an
  // absolute-form target the target's authority wins (Request::path()), but
  // the header must still be there and well-formed.
  // One pass over the headers for both Host and Expect.
  const std::string* host = nullptr;
  const std::string* expect = nullptr;
  for (const auto& h : r.headers) {
    if (iequals(h.name, "Host")) {
      if (host) return s.fail(400, "more than one Host header");
      host = &h.value;
    } else if (!expect && iequals(h.name, "Expect")) {
      expect = &h.value;
    }
  }
  if (!host && r.version_minor >= 1) return s.fail(400, "missing Host header");
  if (host && !valid_host(trim_ows(*host))) return s.fail(400, "invalid Host header");

  if (p->flags & F_TRANSFER_ENCODING) {
    if (int status = check_transfer_codings(r))
      return s.fail(status, status == 501 ? "unsupported transfer coding" : "invalid Transfer-Encoding");
  }

  bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
  bool chunked = (p->flags & F_CHUNKED) != 0;
  if (has_length && p->content_length > s.limits_.max_body_bytes) return s.fail(413, "body too large");
  bool body_expected = chunked || (has_length && p->content_length > 0);
  if (expect && r.version_minor >= 1) {
    if (!iequals(*expect, "100-continue")) return s.fail(417, "unsupported Expect");
    if (body_expected) {
      r.expect_continue = true;
      return HPE_PAUSED;
    }
  }
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (s.req_.body.size() + n > s.limits_.max_body_bytes) return s.fail(413, "body too large");
  s.req_.body.append(at, n);
  return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  s.complete_ = true;
  s.in_message_ = false;
  return HPE_PAUSED;  // hand out one request at a time
}

RequestParser::Step RequestParser::feed(std::string_view data) {
  if (error_status_ != 0) return {Event::error, 0};
  if (data.empty()) return {Event::need_more, 0};
  llhttp_errno_t e = llhttp_execute(&p_, data.data(), data.size());
  if (e == HPE_OK) return {Event::need_more, data.size()};
  if (e == HPE_PAUSED) {
    size_t used = static_cast<size_t>(llhttp_get_error_pos(&p_) - data.data());
    llhttp_resume(&p_);
    if (complete_) return {Event::request, used};
    return {Event::expect_continue, used};
  }
  if (e == HPE_PAUSED_UPGRADE) {
    // Reached only after the upgrade request was handed out and answered;
    // the connection closes (keep_alive is false), so nothing more is parsed.
    return {Event::need_more, data.size()};
  }
  if (error_status_ == 0) {
    error_status_ = status_for(e);
    error_reason_ = llhttp_get_error_reason(&p_);
    if (!error_reason_) error_reason_ = llhttp_errno_name(e);
  }
  return {Event::error, static_cast<size_t>(llhttp_get_error_pos(&p_) - data.data())};
}

Request RequestParser::take() {
  complete_ = false;
  headers_done_ = false;
  return std::exchange(req_, Request{});
}

}  // namespace goro::http
