#include "goro/http/response.hpp"

#include <cstdint>
#include <ctime>

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
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
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

Response Response::retry_later(std::string_view detail) {
  Response r = error(503, detail);
  r.headers.push_back({"Retry-After", "1"});
  return r;
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

// Plain appends rather than fmt::format_to: this runs once per response,
// and parsing a format string there was a tenth of the server's CPU with
// pipelined requests.
void write_head(fmt::memory_buffer& out, const Response& r, bool keep_alive, bool http10) {
  auto put = [&out](std::string_view s) { out.append(s.data(), s.data() + s.size()); };
  auto put_number = [&out](uint64_t n) {
    fmt::format_int digits(n);
    out.append(digits.data(), digits.data() + digits.size());
  };
  put("HTTP/1.1 ");
  put_number(static_cast<uint64_t>(r.status));
  put(" ");
  put(reason_phrase(r.status));
  put("\r\nServer: goro\r\nDate: ");
  put(http_date());
  put("\r\n");
  // 1xx and 204 MUST NOT carry Content-Length, and a 304's would have to be
  // the 200's length, which goro does not know there (RFC 9110 §8.6); neither
  // has content, so no Content-Type either.
  if (!has_no_content(r.status)) {
    put("Content-Type: ");
    put(r.content_type.empty() ? kDefaultContentType : std::string_view(r.content_type));
    put("\r\nContent-Length: ");
    put_number(r.content_length());
    put("\r\n");
  }
  for (const auto& h : r.headers) {
    put(h.name);
    put(": ");
    put(h.value);
    put("\r\n");
  }
  if (!keep_alive) {
    put("Connection: close\r\n");
  } else if (http10) {
    put("Connection: keep-alive\r\n");
  }
  put("\r\n");
}

}  // namespace goro::http
