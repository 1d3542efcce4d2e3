#include "goro/http/parser.hpp"

#include <algorithm>
#include <utility>

namespace goro::http {

namespace {

RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

// The one mapping from llhttp's error codes to the status we answer with.
// Every llhttp error is a malformed request (400): llhttp reads any
// DIGIT "." DIGIT version (LENIENT_VERSION), so a version it refuses is not a
// version at all, and on_headers_complete answers 505 for a major that is not 1.
int status_for(llhttp_errno_t) { return 400; }

// RFC 9110 token characters: what a header name may contain.  llhttp as
// Debian builds it (not strict mode) lets spaces through, which opens the
// door to request smuggling behind a proxy that reads names differently.
constexpr bool token_rule(unsigned char c) {
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

// field-vchar, SP and HTAB: what a field value may hold (RFC 9110 §5.5);
// obs-text (0x80-0xFF) is allowed, every other CTL and DEL is not.
constexpr bool field_rule(unsigned char c) { return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f); }

bool is_hex(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// RFC 3986 unreserved / sub-delims: what a reg-name (and an IPvFuture
// literal, with ':') may hold besides percent-encodings.
constexpr bool host_rule(unsigned char c) {
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

// What a request-target may hold (RFC 3986 via RFC 9112 §3.2): unreserved,
// sub-delims, ':', '@', '/', '?', '%', and '[' ']' for an IP literal in an
// absolute-form's authority.  No CTL, SP, DEL, '#', '"', '<', '>', '\\', '^',
// '`', '{', '|', '}' or octet above 0x7F.
constexpr bool target_rule(unsigned char c) {
  if (host_rule(c)) return true;
  switch (c) {
    case ':': case '@': case '/': case '?': case '%': case '[': case ']':
      return true;
    default:
      return false;
  }
}

// The rules above as tables: every request byte goes through one of them.
struct CharClass {
  bool in[256] = {};
  constexpr explicit CharClass(bool (*rule)(unsigned char)) {
    for (int c = 0; c < 256; ++c) in[c] = rule(static_cast<unsigned char>(c));
  }
  bool operator()(unsigned char c) const { return in[c]; }
};
constexpr CharClass is_token_char(token_rule), is_field_char(field_rule), is_host_char(host_rule),
    is_target_char(target_rule);

int hex_value(unsigned char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

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

// RFC 9112 §3.2: origin-form for any method, asterisk-form only for OPTIONS,
// authority-form only for CONNECT (refused before this), else absolute-form:
// http or https with a valid authority and no userinfo (RFC 9110 §4.2.4: a
// recipient SHOULD treat userinfo as an error).  nullptr when it is fine.
const char* check_target(const Request& r) {
  std::string_view t = r.target;
  if (t.starts_with('/')) return nullptr;
  if (t == "*") return r.method == "OPTIONS" ? nullptr : "asterisk-form is only for OPTIONS";
  size_t sep = t.find("://");
  if (sep == std::string_view::npos || !(iequals(t.substr(0, sep), "http") || iequals(t.substr(0, sep), "https")))
    return "invalid request-target";
  std::string_view rest = t.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos) return "userinfo in the request-target";
  if (authority.empty() || !valid_host(authority)) return "invalid authority in the request-target";
  return nullptr;
}

}  // namespace

// ---- WireCheck --------------------------------------------------------------

const char* WireCheck::scan(std::string_view data) {
  auto bad = [this](const char* why, int status = 400) {
    s_ = S::bad;
    why_ = why;
    status_ = status;
    return why;
  };
  // After a byte that stays in a name, a value or the target, the bytes
  // that follow in the same class are taken in a tight loop (the states'
  // bulk), each still counted toward --max-header-bytes: the loop stops
  // at the limit, and the next byte trips it as a byte would one by one.
  auto run = [&](size_t& i, const CharClass& same) {
    size_t room = max_head_ - head_bytes_;  // the check before this byte kept head_bytes_ <= max_head_
    size_t stop = room < data.size() - i - 1 ? i + 1 + room : data.size();
    size_t j = i + 1;
    while (j < stop && same(static_cast<unsigned char>(data[j]))) ++j;
    head_bytes_ += j - (i + 1);
    i = j - 1;
  };
  for (size_t i = 0; i < data.size(); ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    // Every byte from the start of a message to the end of its header
    // section (and of a trailer section) counts toward --max-header-bytes.
    if (s_ <= S::head_lf && ++head_bytes_ > max_head_) {
      if (s_ == S::target_first || s_ == S::target) return bad("request-target too long", 414);
      return bad(trailers_ ? "trailer section too large" : "header section too large", 431);
    }
    switch (s_) {
      case S::bad:
        return why_;
      case S::opaque:
        return nullptr;
      // Request line (RFC 9112 §3): method SP request-target SP HTTP-version
      // CRLF, one SP each; empty lines (CRLF) before it are ignored (§2.2).
      case S::start:
        if (c == '\r') s_ = S::start_lf;
        else if (is_token_char(c)) s_ = S::method;
        else return bad(c == '\n' ? "bare LF before the request line" : "invalid request line");
        break;
      case S::start_lf:
        if (c != '\n') return bad("bare CR before the request line");
        s_ = S::start;
        break;
      case S::method:
        if (c == ' ') s_ = S::target_first;
        else if (!is_token_char(c)) return bad("invalid character in the method");
        break;
      case S::target_first:
      case S::target:
        if (c == ' ' && s_ == S::target) {
          s_ = S::version;
          version_at_ = 0;
        } else if (is_target_char(c)) {
          s_ = S::target;
          run(i, is_target_char);
        } else {
          return bad("invalid character in the request-target");
        }
        break;
      case S::version: {  // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF
        static constexpr std::string_view kShape = "HTTP/d.d\r";
        char want = kShape[version_at_];
        if (want == 'd' ? !(c >= '0' && c <= '9') : c != static_cast<unsigned char>(want))
          return bad("invalid HTTP version");
        if (++version_at_ == kShape.size()) s_ = S::line_lf;
        break;
      }
      case S::line_lf:
        if (c != '\n') return bad("bare CR in the request line");
        s_ = S::field_start;
        break;
      // Field lines (§5): a token, ':' right after it, field-vchars, CRLF.
      // A line starting with whitespace is obs-fold (§5.2) or, first,
      // whitespace before the header section (§2.2): refused either way.
      case S::field_start:
        if (c == '\r') s_ = S::head_lf;
        else if (is_token_char(c)) s_ = S::name;
        else if (c == ' ' || c == '\t') return bad("obs-fold or whitespace at the start of a field line");
        else if (c == ':') return bad("empty field name");
        else return bad(c == '\n' ? "bare LF in the header section" : "invalid field line");
        break;
      case S::name:
        if (c == ':') s_ = S::value;
        else if (c == ' ' || c == '\t') return bad("whitespace between field name and colon");
        else if (!is_token_char(c)) return bad("invalid character in a field name");
        else run(i, is_token_char);
        break;
      case S::value:
        if (c == '\r') s_ = S::value_lf;
        else if (!is_field_char(c)) return bad(c == '\n' ? "bare LF in a field line" : "invalid character in a field value");
        else run(i, is_field_char);
        break;
      case S::value_lf:
        if (c != '\n') return bad("bare CR in a field line");
        s_ = S::field_start;
        break;
      case S::head_lf:
        if (c != '\n') return bad("bare CR ending the header section");
        if (trailers_) {  // the trailer section ends the message
          trailers_ = false;
          end_message();
          break;
        }
        switch (std::exchange(framing_, Framing::none)) {
          case Framing::none: end_message(); break;
          case Framing::length:
            if (length_) s_ = S::body;
            else end_message();
            break;
          case Framing::chunked:
            s_ = S::chunk_size_first;
            line_bytes_ = 0;
            overhead_ = data_ = 0;
            break;
          case Framing::opaque: s_ = S::opaque; break;
        }
        break;
      case S::body: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(length_, data.size() - i));
        length_ -= n;
        i += n - 1;
        if (length_ == 0) end_message();
        break;
      }
      // Chunked (§7.1): chunk-size = 1*HEXDIG; [ BWS ";" chunk-ext ] CRLF;
      // chunk-data CRLF; last-chunk, trailer section, CRLF.  llhttp stores
      // nothing of a chunk line, so nothing else bounds one: a line is at
      // most kMaxChunkLine, and the lines of a message at most
      // kChunkOverheadSlack plus twice its data, else a client could stream
      // zeros or extensions forever on one connection.
      case S::chunk_size_first:
        if (!is_hex(c)) return bad("invalid chunk size");
        length_ = static_cast<uint64_t>(hex_value(c));
        line_bytes_ = 1;
        s_ = S::chunk_size;
        break;
      case S::chunk_size:
        if (++line_bytes_ > kMaxChunkLine) return bad("chunk line too long");
        if (is_hex(c)) {
          if (length_ >> 60) return bad("chunk size overflow");
          length_ = length_ * 16 + static_cast<uint64_t>(hex_value(c));
        } else if (c == ';') {
          s_ = S::chunk_ext;
        } else if (c == ' ' || c == '\t') {
          s_ = S::chunk_bws;
        } else if (c == '\r') {
          s_ = S::chunk_lf;
        } else {
          return bad(c == '\n' ? "bare LF in a chunk line" : "invalid chunk size");
        }
        break;
      case S::chunk_bws:
        if (++line_bytes_ > kMaxChunkLine) return bad("chunk line too long");
        if (c == ';') s_ = S::chunk_ext;
        else if (c != ' ' && c != '\t') return bad("invalid chunk size");
        break;
      case S::chunk_ext:
        if (++line_bytes_ > kMaxChunkLine) return bad("chunk line too long");
        if (c == '\r') s_ = S::chunk_lf;
        else if (!is_field_char(c)) return bad(c == '\n' ? "bare LF in a chunk line" : "invalid chunk extension");
        break;
      case S::chunk_lf:
        if (c != '\n') return bad("bare CR in a chunk line");
        overhead_ += line_bytes_ + 2;  // the line and the CRLF after its data
        line_bytes_ = 0;
        if (overhead_ > kChunkOverheadSlack + 2 * data_) return bad("chunk lines out of proportion to the data");
        if (length_ == 0) {
          trailers_ = true;
          s_ = S::field_start;
        } else {
          s_ = S::chunk_data;
        }
        break;
      case S::chunk_data: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(length_, data.size() - i));
        length_ -= n;
        data_ += n;
        i += n - 1;
        if (length_ == 0) s_ = S::chunk_data_cr;
        break;
      }
      case S::chunk_data_cr:
        if (c != '\r') return bad("chunk data not followed by CRLF");
        s_ = S::chunk_data_lf;
        break;
      case S::chunk_data_lf:
        if (c != '\n') return bad("chunk data not followed by CRLF");
        s_ = S::chunk_size_first;
        break;
    }
  }
  return s_ == S::bad ? why_ : nullptr;
}

bool WireCheck::at_message_start() const { return s_ == S::start || s_ == S::opaque; }

size_t WireCheck::scan_method(std::string_view rest) {
  size_t i = 0;
  while (i < rest.size() && in_method()) scan(rest.substr(i++, 1));
  return i;
}

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
  s.on_chunk_header = &RequestParser::on_chunk_header;
  s.on_body = &RequestParser::on_body;
  s.on_message_complete = &RequestParser::on_message_complete;
  return s;
}();

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) { reset(); }

void RequestParser::reset() {
  llhttp_init(&p_, HTTP_REQUEST, &settings_);
  p_.data = this;
  // Any DIGIT "." DIGIT version parses: HTTP/1.2 is served as HTTP/1.1 (RFC
  // 9110 §2.5), other majors get 505 from on_headers_complete, and WireCheck
  // holds the version to its grammar.
  p_.lenient_flags |= LENIENT_VERSION;
  req_ = Request{};
  wire_ = WireCheck{};
  wire_.set_head_limit(limits_.max_header_bytes);
  unknown_method_ = false;
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

namespace {
// One spare header vector per thread.  A served request's vector, emptied,
// becomes the next request's (RequestParser::recycle), so a steady stream of
// requests allocates none for it; the parser of every connection, in every
// mode, draws from the thread it runs on.  Only ever touched between two
// calls that cannot park: a goroutine that moves to another worker simply
// uses that worker's spare.
thread_local std::vector<Header> t_spare_headers;
// A vector grown by an unusual request is not kept.
constexpr size_t kMaxSpareHeaders = 64;
}  // namespace

// Out of line (never inlined into a caller that parks: a thread-local's
// address must not be kept across a park).
[[gnu::noinline]] void RequestParser::recycle(Request& served) {
  std::vector<Header>& h = served.headers;
  if (h.capacity() <= t_spare_headers.capacity() || h.capacity() > kMaxSpareHeaders) return;
  h.clear();
  t_spare_headers.swap(h);
}

int RequestParser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.req_ = Request{};
  s.req_.headers.swap(t_spare_headers);
  s.in_message_ = true;
  s.headers_done_ = s.complete_ = s.in_name_ = s.in_value_ = false;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  // Its length is bounded by WireCheck (414), after each feed: what one
  // feed can add here is bounded by what the caller read.
  s.req_.target.append(at, n);
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  for (size_t i = 0; i < n; ++i)
    if (!is_token_char(static_cast<unsigned char>(at[i]))) return s.fail(400, "invalid character in header name");
  // llhttp may deliver a name in pieces; the first piece starts a header.
  // A trailer field is read into trailer_ and dropped: RFC 9110 §6.5.1
  // forbids merging it into the header section, and no handler asks for one.
  if (!s.in_name_) {
    if (s.headers_done_) s.trailer_ = Header{};
    else s.req_.headers.emplace_back();
    s.in_name_ = true;
  }
  s.field().name.append(at, n);
  return 0;
}

int RequestParser::on_header_field_complete(llhttp_t* p) {
  auto& s = self(p);
  // A field line with nothing before the colon (": x") has no name: the
  // name callback never ran.  field-name is a token, at least one character
  // (RFC 9110 §5.1), and an invalid field line is a 400 (RFC 9112 §5).
  if (!s.in_name_ || s.field().name.empty()) return s.fail(400, "empty header name");
  s.in_name_ = false;
  s.in_value_ = true;
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.in_value_) return s.fail(400, "header value without a name");
  s.field().value.append(at, n);
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
  if (const char* why = check_target(r)) return s.fail(400, why);
  if (llhttp_get_upgrade(p)) r.keep_alive = false;  // we answer, then close

  // Host (RFC 9112 §3.2): an HTTP/1.1 request without one, any request with
  // more than one, or one whose value is not a valid host gets 400.  With an
  // absolute-form target the target's authority wins (Request::path()), but
  // the header must still be there and well-formed.
  // One pass over the headers for Host, Expect and Transfer-Encoding (llhttp
  // does not flag an empty Transfer-Encoding, which must still be refused).
  const std::string* host = nullptr;
  const std::string* expect = nullptr;
  bool te = (p->flags & F_TRANSFER_ENCODING) != 0;
  for (const auto& h : r.headers) {
    if (iequals(h.name, "Host")) {
      if (host) return s.fail(400, "more than one Host header");
      host = &h.value;
    } else if (!expect && iequals(h.name, "Expect")) {
      expect = &h.value;
    } else if (iequals(h.name, "Transfer-Encoding")) {
      te = true;
    }
  }
  if (!host && r.version_minor >= 1) return s.fail(400, "missing Host header");
  if (host && !valid_host(trim_ows(*host))) return s.fail(400, "invalid Host header");

  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 MUST be taken as faulty framing.
  if (te && r.version_minor == 0) return s.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (te) {
    if (int status = check_transfer_codings(r))
      return s.fail(status, status == 501 ? "unsupported transfer coding" : "invalid Transfer-Encoding");
  }

  bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
  bool chunked = (p->flags & F_CHUNKED) != 0;
  if (has_length && p->content_length > s.limits_.max_body_bytes) return s.fail(413, "body too large");
  bool body_expected = chunked || (has_length && p->content_length > 0);
  if (llhttp_get_upgrade(p)) s.wire_.set_framing(WireCheck::Framing::opaque);
  else if (chunked) s.wire_.set_framing(WireCheck::Framing::chunked);
  else if (has_length) s.wire_.set_framing(WireCheck::Framing::length, p->content_length);
  if (expect && r.version_minor >= 1) {
    if (!iequals(*expect, "100-continue")) return s.fail(417, "unsupported Expect");
    if (body_expected) {
      r.expect_continue = true;
      return HPE_PAUSED;
    }
  }
  return 0;
}

// A chunk's size is known before its data: one that cannot fit under the
// limit is refused now, not after the client has sent it.
int RequestParser::on_chunk_header(llhttp_t* p) {
  auto& s = self(p);
  if (p->content_length > s.limits_.max_body_bytes - s.req_.body.size()) return s.fail(413, "body too large");
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

RequestParser::Step RequestParser::finish_unknown_method(std::string_view rest, size_t used_before) {
  size_t n = wire_.scan_method(rest);
  if (wire_.in_method()) return {Event::need_more, used_before + n};  // the token goes on: feed more
  unknown_method_ = false;
  if (const char* why = wire_.why()) {  // it ended in a byte no method has, or over the limit
    error_status_ = wire_.status();
    error_reason_ = why;
  } else {  // a well-formed method llhttp does not know: RFC 9110 §9.1, 501
    error_status_ = 501;
    error_reason_ = "method not implemented";
  }
  return {Event::error, used_before + n};
}

RequestParser::Step RequestParser::feed(std::string_view data) {
  if (error_status_ != 0) return {Event::error, 0};
  if (data.empty()) return {Event::need_more, 0};
  if (unknown_method_) return finish_unknown_method(data, 0);
  llhttp_errno_t e = llhttp_execute(&p_, data.data(), data.size());
  size_t used = e == HPE_OK || e == HPE_PAUSED_UPGRADE
                    ? data.size()
                    : static_cast<size_t>(llhttp_get_error_pos(&p_) - data.data());
  // What llhttp accepted must also be HTTP/1.1 as RFC 9112 writes it, and a
  // message must end where the grammar says: where they disagree, 400.
  const char* why = wire_.scan(data.substr(0, used));
  if (!why && e == HPE_PAUSED && complete_ && !wire_.at_message_start()) why = "message framing is ambiguous";
  if (why) {
    error_status_ = wire_.status();
    error_reason_ = why;
    return {Event::error, used};
  }
  if (e == HPE_OK) return {Event::need_more, data.size()};
  if (e == HPE_PAUSED) {
    llhttp_resume(&p_);
    if (complete_) return {Event::request, used};
    return {Event::expect_continue, used};
  }
  if (e == HPE_PAUSED_UPGRADE) {
    // Reached only after the upgrade request was handed out and answered;
    // the connection closes (keep_alive is false), so nothing more is parsed.
    return {Event::need_more, data.size()};
  }
  // A method llhttp does not know: 501 if it is a well-formed token
  // (RFC 9110 §9.1), else 400 — decided by reading the token to its end,
  // in this feed or the next, so the answer does not depend on the split.
  if (error_status_ == 0 && e == HPE_INVALID_METHOD) {
    unknown_method_ = true;
    return finish_unknown_method(data.substr(used), used);
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
