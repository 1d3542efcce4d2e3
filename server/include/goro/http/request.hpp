// goro/http/request.hpp — one parsed HTTP/1.x request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace goro::http {

/// One header field as received.
struct Header {
  std::string name;   ///< as sent (compare with iequals)
  std::string value;  ///< without surrounding whitespace
};

namespace detail {
struct RoutePattern;  // a route's pattern, parsed (router.cpp)
}  // namespace detail

/// One parsed request.  Built by the parser; the router sets `route` when
/// it dispatches.
struct Request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: "/sleep?ms=10"
  int version_major = 1;  ///< 1
  int version_minor = 1;  ///< 0 or 1
  std::vector<Header> headers;  ///< in the order received
  std::string body;  ///< de-chunked
  bool keep_alive = true;        ///< per HTTP version and Connection header
  bool expect_continue = false;  ///< "Expect: 100-continue" with a body to come
  /// The route that matched, set by the router as it dispatches (nullptr
  /// before, or when none did); read it through pattern() and param().
  /// One pointer and no parameter storage: the parser builds a Request per
  /// request, and a larger one cost /plaintext ~1% (GCC zeroes it with
  /// `rep stosq`; measured).  Valid while the router lives.
  const detail::RoutePattern* route = nullptr;

  /// First header with this name (ASCII case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  /// target before '?', without an absolute-form's scheme://authority.
  std::string_view path() const;
  /// target after '?', or "".
  std::string_view query() const;
  /// Raw (not percent-decoded) value of the first `name=` in the query.
  std::optional<std::string_view> query_param(std::string_view name) const;
  /// The pattern of the route that matched, as registered ("/users/{id}"),
  /// or "" before dispatch or when none did.
  std::string_view pattern() const;
  /// Raw (not percent-decoded, like query_param) value of the path
  /// parameter `name` ("{name}" or "{name...}" in the route's pattern), or
  /// "" if the route has none by that name.  Found from the target on each
  /// call (a walk over the pattern's segments), so a copy of the request
  /// answers the same.
  std::string_view param(std::string_view name) const;
};

/// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

/// Percent-decodes `in` (a path or a parameter) into `out`.  Returns false
/// on a bad escape or an encoded NUL.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace goro::http
