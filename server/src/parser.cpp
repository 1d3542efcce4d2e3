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
    case HPE_INVALID_TRANSFER_ENCODING:
      return 501;  // a transfer coding we do not implement
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

}  // namespace

const llhttp_settings_t RequestParser::settings_ = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_url = &RequestParser::on_url;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_value = &RequestParser::on_header_value;
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
  in_message_ = headers_done_ = complete_ = last_was_value_ = false;
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
  s.headers_done_ = s.complete_ = s.last_was_value_ = false;
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
  // llhttp may deliver a name in pieces; a new name starts after a value.
  if (s.last_was_value_ || s.req_.headers.empty()) {
    if (!s.count_header_bytes(kHeaderLineOverhead)) return s.fail(431, "header block too large");
    s.req_.headers.emplace_back();
  }
  s.last_was_value_ = false;
  s.req_.headers.back().name.append(at, n);
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.count_header_bytes(n)) return s.fail(431, "header block too large");
  s.last_was_value_ = true;
  s.req_.headers.back().value.append(at, n);
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

  bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
  bool chunked = (p->flags & F_CHUNKED) != 0;
  if (has_length && p->content_length > s.limits_.max_body_bytes) return s.fail(413, "body too large");
  bool body_expected = chunked || (has_length && p->content_length > 0);
  const std::string* expect = r.header("Expect");
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
