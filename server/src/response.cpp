#include "goro/http/response.hpp"

#include <ctime>
#include <iterator>

namespace goro::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view detail) {
  if (detail.empty()) return text(status, fmt::format("{} {}\n", status, reason_phrase(status)));
  return text(status, fmt::format("{} {}: {}\n", status, reason_phrase(status), detail));
}

std::string_view http_date() {
  // Per thread, so no lock and no sharing; a worker formats once a second.
  thread_local std::time_t cached_at = 0;
  thread_local char buf[40];
  thread_local size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return {buf, len};
}

void write_head(fmt::memory_buffer& out, const Response& r, bool keep_alive, bool http10) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, "HTTP/1.1 {} {}\r\nServer: goro\r\nDate: {}\r\n", r.status, reason_phrase(r.status),
                 http_date());
  // 1xx and 204 MUST NOT carry Content-Length, and a 304's would have to be
  // the 200's length, which goro does not know there (RFC 9110 §8.6); neither
  // has content, so no Content-Type either.
  if (!has_no_content(r.status))
    fmt::format_to(it, "Content-Type: {}\r\nContent-Length: {}\r\n", r.content_type, r.content_length());
  for (const auto& h : r.headers) fmt::format_to(it, "{}: {}\r\n", h.name, h.value);
  if (!keep_alive) {
    fmt::format_to(it, "Connection: close\r\n");
  } else if (http10) {
    fmt::format_to(it, "Connection: keep-alive\r\n");
  }
  fmt::format_to(it, "\r\n");
}

}  // namespace goro::http
