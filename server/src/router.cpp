#include "goro/http/router.hpp"

#include <algorithm>

namespace goro::http {

void Router::add(std::vector<std::string> methods, std::string path, Handler h, bool prefix, Answers answers) {
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end() &&
      std::find(methods.begin(), methods.end(), "HEAD") == methods.end())
    methods.push_back("HEAD");
  routes_.push_back({std::move(methods), std::move(path), prefix, std::move(h), answers});
}

const Router::Route* Router::find(std::string_view path) const {
  for (const auto& r : routes_)
    if (r.prefix ? path.starts_with(r.path) : path == r.path) return &r;
  return nullptr;
}

bool Router::may_block(const Request& req) const {
  if (req.target == "*" || req.method == "OPTIONS") return false;
  const Route* r = find(req.path());
  return r && r->answers == Answers::may_block &&
         std::find(r->methods.begin(), r->methods.end(), req.method) != r->methods.end();
}

namespace {

std::string allow_of(const std::vector<std::string>& methods) {
  std::string allow;
  for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
  return allow + (allow.empty() ? "" : ", ") + "OPTIONS";
}

// An entity-tag list matches "*" only: goro's responses carry no ETag.
bool is_star(const std::string& v) {
  size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
  return b != std::string::npos && v.substr(b, e - b + 1) == "*";
}

// RFC 9110 §13.2.2, for a response that would be 2xx (§13.2.1: otherwise
// preconditions are ignored).  goro has no entity-tags and no modification
// dates: If-Match holds only as "*", If-None-Match fails only as "*";
// If-Unmodified-Since and If-Modified-Since have no date to compare and are
// ignored (§13.1.3, §13.1.4), as is Range (§14.2 allows it).  The handlers
// have no side effects, so judging after running one is the same as before.
Response preconditions(const Request& req, Response resp) {
  if (resp.status < 200 || resp.status >= 300) return resp;
  if (const std::string* m = req.header("If-Match"); m && !is_star(*m))
    return Response::error(412, "no current representation matches If-Match");
  if (const std::string* nm = req.header("If-None-Match"); nm && is_star(*nm)) {
    if (req.method != "GET" && req.method != "HEAD")
      return Response::error(412, "a current representation exists (If-None-Match: *)");
    Response r;
    r.status = 304;
    return r;
  }
  return resp;
}

}  // namespace

Response Router::dispatch(const Request& req, const Context& ctx) const {
  // OPTIONS * (RFC 9112 §3.2.4, RFC 9110 §9.3.7): the server as a whole.
  if (req.target == "*") {
    Response r;
    r.status = 204;
    r.headers.push_back({"Allow", "GET, HEAD, POST, PUT, OPTIONS"});
    return r;
  }
  const Route* r = find(req.path());
  if (!r) return Response::error(404, "no such path");
  if (req.method == "OPTIONS") {
    Response resp;
    resp.status = 204;
    resp.headers.push_back({"Allow", allow_of(r->methods)});
    return resp;
  }
  if (std::find(r->methods.begin(), r->methods.end(), req.method) == r->methods.end()) {
    Response resp = Response::error(405, fmt::format("{} is not allowed here", req.method));
    resp.headers.push_back({"Allow", allow_of(r->methods)});
    return resp;
  }
  return preconditions(req, r->handler(req, ctx));
}

}  // namespace goro::http
