// goro/http/request.hpp — one parsed HTTP/1.x request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace goro::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/sleep?ms=10"
  int version_major = 1;
  int version_minor = 1;
  std::vector<Header> headers;
  std::string body;  // de-chunked
  bool keep_alive = true;        // per HTTP version and Connection header
  bool expect_continue = false;  // "Expect: 100-continue" with a body to come

  // First header with this name (ASCII case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  std::string_view path() const;   // target before '?', without an absolute-form's scheme://authority
  std::string_view query() const;  // target after '?', or ""
  // Raw (not percent-decoded) value of the first `name=` in the query.
  std::optional<std::string_view> query_param(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace goro::http
