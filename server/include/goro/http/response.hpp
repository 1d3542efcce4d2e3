// goro/http/response.hpp — a response and its wire form.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "goro/http/request.hpp"
#include "goro/netpoll/file.hpp"

namespace goro::http {

inline constexpr std::string_view kDefaultContentType = "text/plain; charset=utf-8";

struct Response {
  int status = 200;
  // Empty means kDefaultContentType (a default longer than the string's
  // inline capacity would cost every response an allocation).
  std::string content_type;
  std::vector<Header> headers;  // extra headers (Allow, Retry-After, ...)
  std::string body;
  netpoll::File file;      // when open, the body is streamed from it instead
  bool close = false;  // the connection closes after this response

  static Response text(int status, std::string body);
  // A short plain-text error page: "<code> <reason>: <detail>\n".
  static Response error(int status, std::string_view detail = {});
  // 503 with "Retry-After: 1": the server or a backend it needs cannot
  // serve this now, and the client may try again shortly.
  static Response retry_later(std::string_view detail);
  uint64_t content_length() const { return file.is_open() ? file.size() : body.size(); }
};

std::string_view reason_phrase(int status);

// Statuses whose responses never have content (RFC 9110 §6.4.1): 1xx, 204, 304.
constexpr bool has_no_content(int status) { return status < 200 || status == 204 || status == 304; }

// Appends the status line and headers, always with Date and Server, and
// Content-Length (even for HEAD, where the body is not sent) unless the
// status has no content (has_no_content).
// keep_alive false adds "Connection: close".  An HTTP/1.0 client keeps a
// connection only when the response says "Connection: keep-alive" (RFC 9112
// Appendix C.2.2): pass http10 for those.
void write_head(fmt::memory_buffer& out, const Response& r, bool keep_alive, bool http10 = false);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
// formatted at most once a second per thread.
std::string_view http_date();

}  // namespace goro::http
