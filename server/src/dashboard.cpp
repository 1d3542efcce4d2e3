// The live dashboard: dashboard.html, embedded at build time by
// dashboard.cmake as the raw string literal in dashboard_html.inc.
#include "goro/http/dashboard.hpp"

#include <string_view>

namespace goro::http {

namespace {

constexpr std::string_view kPage =
#include "dashboard_html.inc"
    ;

Response page(const Request&, const Context&) {
  Response r = Response::text(200, std::string(kPage));
  r.content_type = "text/html; charset=utf-8";
  return r;
}

// /debug → /debug/: the page fetches "vars" and "goroutines" relative to
// itself, which works behind a proxy that mounts goro under a prefix.
Response redirect(const Request&, const Context&) {
  Response r = Response::text(301, "/debug/\n");
  r.headers.push_back({"Location", "/debug/"});
  return r;
}

}  // namespace

void add_dashboard_routes(Router& r) {
  r.add({"GET"}, "/debug/", page, false, Answers::at_once);
  r.add({"GET"}, "/debug", redirect, false, Answers::at_once);
}

}  // namespace goro::http
