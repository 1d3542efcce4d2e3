#include "goro/http/router.hpp"

#include <algorithm>

namespace goro::http {

void Router::add(std::vector<std::string> methods, std::string path, Handler h, bool prefix) {
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end() &&
      std::find(methods.begin(), methods.end(), "HEAD") == methods.end())
    methods.push_back("HEAD");
  routes_.push_back({std::move(methods), std::move(path), prefix, std::move(h)});
}

Response Router::dispatch(const Request& req, const Context& ctx) const {
  std::string_view path = req.path();
  for (const auto& r : routes_) {
    bool match = r.prefix ? path.starts_with(r.path) : path == r.path;
    if (!match) continue;
    if (std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end()) {
      Response resp = Response::error(405, fmt::format("{} is not allowed here", req.method));
      std::string allow;
      for (const auto& m : r.methods) allow += (allow.empty() ? "" : ", ") + m;
      resp.headers.push_back({"Allow", std::move(allow)});
      return resp;
    }
    return r.handler(req, ctx);
  }
  return Response::error(404, "no such path");
}

}  // namespace goro::http
