#include "goro/http/request.hpp"

#include <algorithm>

namespace goro::http {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

const std::string* Request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::string_view Request::path() const {
  std::string_view t = target;
  t = t.substr(0, t.find('?'));
  // absolute-form ("http://host/p", RFC 9112 §3.2.2), which a server MUST
  // accept: the path is what follows the authority, "/" when nothing does.
  if (!t.empty() && t[0] != '/') {
    size_t scheme_end = t.find("://");
    if (scheme_end != std::string_view::npos && scheme_end > 0) {
      size_t slash = t.find('/', scheme_end + 3);
      return slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    }
  }
  return t;
}

std::string_view Request::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  std::string_view q = query();
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace goro::http
