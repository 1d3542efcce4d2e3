/// \file
/// A response and its wire form.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "goro/http/request.hpp"
#include "goro/netpoll/file.hpp"

/// goro's HTTP/1.1 server (library goro::http): a Server that listens and
/// serves in goroutine, thread or pool mode, the Router and handlers it
/// dispatches to, and the per-connection loop, parser and responses under them.
namespace goro::http {

/// The Content-Type of a response that names none.
inline constexpr std::string_view kDefaultContentType = "text/plain; charset=utf-8";

/// What a handler returns: status, headers and a body held in memory or
/// streamed from a file.
struct Response {
  int status = 200;  ///< the HTTP status code
  /// Empty means kDefaultContentType (a default longer than the string's
  /// inline capacity would cost every response an allocation).
  std::string content_type;
  std::vector<Header> headers;  ///< extra headers (Allow, Retry-After, ...)
  std::string body;  ///< the body, unless `file` is open
  netpoll::File file;      ///< when open, the body is streamed from it instead
  bool close = false;  ///< the connection closes after this response

  /// `status` with `body` as plain text.
  static Response text(int status, std::string body);
  /// A short plain-text error page: `<code> <reason>: <detail>` and a newline.
  static Response error(int status, std::string_view detail = {});
  /// 503 with "Retry-After: 1": the server or a backend it needs cannot
  /// serve this now, and the client may try again shortly.
  static Response retry_later(std::string_view detail);
  /// The body's length: the file's size when one is open, else body's.
  uint64_t content_length() const { return file.is_open() ? file.size() : body.size(); }
};

/// The status's reason phrase ("Not Found"); "Unknown" for a code goro never sends.
std::string_view reason_phrase(int status);

/// Statuses whose responses never have content (RFC 9110 §6.4.1): 1xx, 204, 304.
constexpr bool has_no_content(int status) { return status < 200 || status == 204 || status == 304; }

/// Appends the status line and headers, always with Date and Server, and
/// Content-Length (even for HEAD, where the body is not sent) unless the
/// status has no content (has_no_content).
/// keep_alive false adds "Connection: close".  An HTTP/1.0 client keeps a
/// connection only when the response says "Connection: keep-alive" (RFC 9112
/// Appendix C.2.2): pass http10 for those.
void write_head(fmt::memory_buffer& out, const Response& r, bool keep_alive, bool http10 = false);

/// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
/// formatted at most once a second per thread.
std::string_view http_date();

}  // namespace goro::http
