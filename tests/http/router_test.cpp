// The handler API: routes with path parameters, the router's 404/405/OPTIONS/
// HEAD answers for every kind of route, refusals at registration,
// middleware (order, scope, and the three the library provides), and a
// Server that starts with no routes.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <new>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "goro/http/server.hpp"
#include "http_client.hpp"

using namespace goro::http;

namespace {

// A router and what a handler needs, dispatching requests by hand.
struct Harness {
  Config config;
  Metrics metrics;
  Context ctx{config, metrics, -1, std::chrono::steady_clock::now()};
  Router router;

  Response go(std::string method, std::string target, Request* seen = nullptr) {
    Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    Response r = router.dispatch(req, ctx);
    if (seen) *seen = req;
    return r;
  }
};

// A handler answering "<tag> <param>=<value> ..." for the parameters asked.
Handler says(std::string tag, std::vector<std::string> params = {}) {
  return [tag, params](const Request& req, const Context&) {
    std::string body = tag;
    for (const auto& p : params) body += " " + p + "=" + std::string(req.param(p));
    return Response::text(200, body);
  };
}

std::string allow(const Response& r) {
  for (const auto& h : r.headers)
    if (h.name == "Allow") return h.value;
  return "(none)";
}

// Captures the default logger's lines for one test.
struct LogCapture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  explicit LogCapture(spdlog::level::level_enum level) {
    auto l = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    l->set_level(level);
    spdlog::set_default_logger(l);
  }
  ~LogCapture() { spdlog::set_default_logger(saved); }
};

}  // namespace

TEST_CASE("a request goes to the first matching route that has its method") {
  Harness h;
  h.router.get("/users/me", says("me"));
  h.router.del("/users/{id}", says("delete", {"id"}));
  CHECK(h.go("GET", "/users/me").body == "me");
  // The exact route has no DELETE: the pattern behind it serves it.
  CHECK(h.go("DELETE", "/users/me").body == "delete id=me");
  CHECK(h.go("DELETE", "/users/7").body == "delete id=7");
  // No matching route has POST: 405 with the first match's methods.
  Response r = h.go("POST", "/users/me");
  CHECK(r.status == 405);
  CHECK(allow(r) == "GET, HEAD, OPTIONS");
}

TEST_CASE("a route's own OPTIONS handler runs, and Allow lists OPTIONS once") {
  Harness h;
  h.router.handle("OPTIONS", "/api/{x}", says("preflight", {"x"}));
  h.router.get("/api/{x}", says("get", {"x"}));
  CHECK(h.go("OPTIONS", "/api/a").body == "preflight x=a");
  Response r = h.go("PUT", "/api/a");
  CHECK(r.status == 405);
  CHECK(allow(r) == "OPTIONS, GET, HEAD");
}

TEST_CASE("preconditions: a state-changing handler does not run when they fail") {
  Harness h;
  int runs = 0;
  h.router.put("/doc", [&](const Request&, const Context&) {
    runs++;
    return Response::text(201, "created");
  });
  h.router.get("/tagged", [](const Request&, const Context&) {
    Response r = Response::text(200, "v1");
    r.headers.push_back({"ETag", "\"v1\""});
    return r;
  });
  auto with = [&](std::string method, std::string target, std::string name, std::string value) {
    Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers.push_back({std::move(name), std::move(value)});
    return h.router.dispatch(req, h.ctx);
  };
  CHECK(with("PUT", "/doc", "If-None-Match", "*").status == 412);
  CHECK(with("PUT", "/doc", "If-Match", "\"x\"").status == 412);
  CHECK(runs == 0);
  CHECK(with("PUT", "/doc", "If-Match", "*").status == 201);
  CHECK(runs == 1);
  // A handler with its own validator judges them itself.
  CHECK(with("GET", "/tagged", "If-Match", "\"v1\"").status == 200);
}

TEST_CASE("exact routes and patterns: parameters, 404, 405 with Allow, OPTIONS, HEAD") {
  Harness h;
  h.router.get("/users/{id}", says("user", {"id"}));
  h.router.del("/users/{id}", says("deleted", {"id"}));
  h.router.get("/files/{path...}", says("file", {"path"}));
  h.router.get("/plain", says("plain"));
  h.router.get("/users/{id}/posts/{post}", says("post", {"id", "post"}));

  Request seen;
  auto r = h.go("GET", "/users/42?x=1", &seen);
  CHECK(r.status == 200);
  CHECK(r.body == "user id=42");
  CHECK(seen.pattern() == "/users/{id}");
  CHECK(seen.param("id") == "42");
  CHECK(seen.param("nope") == "");
  CHECK(h.go("DELETE", "/users/7").body == "deleted id=7");
  CHECK(h.go("GET", "/users/7/posts/9").body == "post id=7 post=9");
  CHECK(h.go("HEAD", "/users/7").status == 200);  // GET implies HEAD
  // Raw, like query parameters: the handler decodes if it wants to.
  CHECK(h.go("GET", "/users/a%20b").body == "user id=a%20b");
  // Absolute-form targets match by their path.
  CHECK(h.go("GET", "http://example.com/users/9").body == "user id=9");

  CHECK(h.go("GET", "/files/a/b/c.txt").body == "file path=a/b/c.txt");
  CHECK(h.go("GET", "/files/").body == "file path=");
  CHECK(h.go("GET", "/files").status == 404);
  CHECK(h.go("GET", "/users/").status == 404);   // {id} needs a non-empty segment
  CHECK(h.go("GET", "/users/1/x").status == 404);  // one segment only
  CHECK(h.go("GET", "/users").status == 404);
  CHECK(h.go("GET", "/plain/").status == 404);

  auto wrong = h.go("POST", "/users/1");
  CHECK(wrong.status == 405);
  CHECK(allow(wrong) == "GET, HEAD, DELETE, OPTIONS");
  auto opts = h.go("OPTIONS", "/users/1");
  CHECK(opts.status == 204);
  CHECK(allow(opts) == "GET, HEAD, DELETE, OPTIONS");
  CHECK(allow(h.go("OPTIONS", "/plain")) == "GET, HEAD, OPTIONS");
  CHECK(h.go("OPTIONS", "/nowhere").status == 404);

  // A copy of the request (its target's characters elsewhere) finds the
  // parameters in its own target.
  Request copy = seen;
  seen.target.assign(seen.target.size(), '#');
  CHECK(copy.param("id") == "42");
}

TEST_CASE("the most specific route wins: exact, then literal over {name} over {name...}, then prefix") {
  Harness h;
  h.router.add({"GET"}, "/static/", says("prefix"), /*prefix=*/true);
  h.router.get("/a/{rest...}", says("rest", {"rest"}));
  h.router.get("/a/{x}", says("param", {"x"}));
  h.router.get("/a/b/{y...}", says("b-rest", {"y"}));
  h.router.get("/a/me", says("exact"));
  h.router.get("/static/{name}", says("static-param", {"name"}));

  CHECK(h.go("GET", "/a/me").body == "exact");
  CHECK(h.go("GET", "/a/you").body == "param x=you");
  CHECK(h.go("GET", "/a/you/c/d").body == "rest rest=you/c/d");
  CHECK(h.go("GET", "/a/b/c").body == "b-rest y=c");
  CHECK(h.go("GET", "/a/b/c/d").body == "b-rest y=c/d");
  CHECK(h.go("GET", "/a/b").body == "param x=b");
  CHECK(h.go("GET", "/static/x.txt").body == "static-param name=x.txt");
  CHECK(h.go("GET", "/static/dir/x.txt").body == "prefix");
}

TEST_CASE("may_block follows the route's Answers, for patterns too") {
  Harness h;
  h.router.get("/slow/{id}", says("slow"));
  h.router.get("/fast/{id}", says("fast"), Answers::at_once);
  Request req;
  req.method = "GET";
  req.target = "/slow/1";
  CHECK(h.router.may_block(req));
  req.target = "/fast/1";
  CHECK_FALSE(h.router.may_block(req));
  req.target = "/none";
  CHECK_FALSE(h.router.may_block(req));
  req.method = "POST";
  req.target = "/slow/1";
  CHECK_FALSE(h.router.may_block(req));  // 405 answers at once
}

TEST_CASE("malformed, duplicate and ambiguous routes are refused when registered") {
  Harness h;
  h.router.get("/users/{id}", says("u"));
  h.router.get("/x", says("x"));
  h.router.add({"GET"}, "/p/", says("p"), true);
  auto refused = [&](auto&& add, std::string_view words) {
    try {
      add();
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string_view(e.what()).find(words) != std::string_view::npos);
      return true;
    }
    return false;
  };
  CHECK(refused([&] { h.router.get("/users/{id}", says("again")); }, "GET is registered already"));
  CHECK(refused([&] { h.router.get("/x", says("again")); }, "GET is registered already"));
  CHECK(refused([&] { h.router.add({"GET"}, "/p/", says("again"), true); }, "registered already"));
  CHECK(refused([&] { h.router.get("/users/{name}", says("n")); }, "matches the same paths as \"/users/{id}\""));
  CHECK(refused([&] { h.router.get("/users/{id", says("n")); }, "'{' is not closed"));
  CHECK(refused([&] { h.router.get("/f/{p...}/x", says("n")); }, "must come last"));
  CHECK(refused([&] { h.router.get("/f/a{p}", says("n")); }, "whole segment"));
  CHECK(refused([&] { h.router.get("/f/{}", says("n")); }, "bad parameter name"));
  CHECK(refused([&] { h.router.get("/f/{a}/{a}", says("n")); }, "appears twice"));
  CHECK(refused([&] { h.router.get("f", says("n")); }, "must begin with '/'"));
  CHECK(refused([&] { h.router.add({"GET"}, "/q/{id}", says("n"), true); }, "prefix route cannot have parameters"));
  CHECK(refused([&] { h.router.add({"GET", "GET"}, "/twice", says("n")); }, "listed twice"));
  h.router.get("/m/{x}/c", says("n"));
  CHECK(refused([&] { h.router.get("/m/b/{y}", says("n")); }, "neither is more specific"));

  // Nothing refused was added; the same pattern with another method is fine.
  CHECK(h.go("GET", "/twice").status == 404);
  CHECK(h.go("GET", "/m/b/z").status == 404);
  h.router.put("/users/{id}", says("put"));
  CHECK(h.go("PUT", "/users/1").body == "put");
  // An explicit HEAD replaces the one GET implied; a second is refused.
  h.router.handle("HEAD", "/x", says("head"));
  CHECK(h.go("HEAD", "/x").body == "head");
  CHECK(refused([&] { h.router.handle("HEAD", "/x", says("again")); }, "HEAD is registered already"));
}

TEST_CASE("middleware wraps every route, before and after use(), first added outermost") {
  Harness h;
  auto tag = [](std::string t) -> Middleware {
    return [t](Handler next) -> Handler {
      return [t, next](const Request& req, const Context& ctx) {
        Response r = next(req, ctx);
        r.body = t + "(" + r.body + ")";
        return r;
      };
    };
  };
  h.router.get("/before", says("h"));
  h.router.use(tag("a"));
  h.router.use(tag("b"));
  h.router.get("/after/{id}", says("h", {"id"}));
  CHECK(h.go("GET", "/before").body == "a(b(h))");
  CHECK(h.go("GET", "/after/1").body == "a(b(h id=1))");
  CHECK(h.go("HEAD", "/after/1").body == "a(b(h id=1))");
  // The router's own answers are not the routes': no middleware.
  CHECK(h.go("GET", "/none").body.starts_with("404"));
}

TEST_CASE("recover turns an exception into a logged 500; without it the exception escapes") {
  Harness h;
  h.router.get("/throw", [](const Request&, const Context&) -> Response { throw std::runtime_error("boom"); });
  h.router.get("/oom", [](const Request&, const Context&) -> Response { throw std::bad_alloc(); });
  CHECK_THROWS_AS(h.go("GET", "/throw"), std::runtime_error);
  h.router.use(recover());
  LogCapture log(spdlog::level::info);
  auto r = h.go("GET", "/throw");
  CHECK(r.status == 500);
  CHECK(log.out.str().find("handler for GET /throw threw: boom") != std::string::npos);
  // Out of memory is the server's, not the handler's: the connection answers 503.
  CHECK_THROWS_AS(h.go("GET", "/oom"), std::bad_alloc);
}

TEST_CASE("route_metrics counts requests, 5xx answers and exceptions per route") {
  Harness h;
  auto stats = std::make_shared<RouteStats>();
  h.router.use(route_metrics(stats));
  h.router.get("/users/{id}", says("u"));
  h.router.get("/fail", [](const Request&, const Context&) { return Response::error(503, "down"); });
  h.router.get("/throw", [](const Request&, const Context&) -> Response { throw std::runtime_error("x"); });
  for (int i = 0; i < 3; ++i) h.go("GET", "/users/" + std::to_string(i));
  h.go("HEAD", "/users/1");
  h.go("GET", "/fail");
  CHECK_THROWS(h.go("GET", "/throw"));
  h.go("GET", "/nowhere");  // not a route: not counted

  auto rows = stats->rows();
  REQUIRE(rows.size() == 4);
  auto row = [&](std::string_view method, std::string_view pattern) {
    for (const auto& r : rows)
      if (r.method == method && r.pattern == pattern) return r;
    FAIL("no row for " << method << " " << pattern);
    return rows[0];
  };
  CHECK(row("GET", "/users/{id}").requests == 3);
  CHECK(row("GET", "/users/{id}").errors == 0);
  CHECK(row("HEAD", "/users/{id}").requests == 1);
  CHECK(row("GET", "/fail").errors == 1);
  CHECK(row("GET", "/throw").errors == 1);
  CHECK(stats->json().find("\"GET /users/{id}\": {\"requests\": 3, \"errors\": 0}") != std::string::npos);
}

TEST_CASE("log_requests writes one debug line per request, none above debug level") {
  Harness h;
  h.router.use(log_requests());
  h.router.get("/users/{id}", says("u"));
  {
    LogCapture log(spdlog::level::info);
    h.go("GET", "/users/5");
    CHECK(log.out.str().empty());
  }
  LogCapture log(spdlog::level::debug);
  h.go("GET", "/users/5?v=1");
  h.go("GET", "/users/6");
  std::string out = log.out.str();
  CHECK(out.find("GET /users/5?v=1 (route /users/{id}) -> 200 in ") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 2);
}

TEST_CASE("a Server starts with no routes; routes added on it are served") {
  Config cfg;
  cfg.mode = Mode::thread;
  cfg.bind = "127.0.0.1";
  cfg.port = 0;
  Server server(cfg);
  server.get("/hello/{name}", [](const Request& req, const Context&) {
    return Response::text(200, "hi " + std::string(req.param("name")));
  });
  server.listen();
  std::thread serving([&] { server.serve(); });
  auto hi = goro::test::get(server.port(), "/hello/goro");
  auto root = goro::test::get(server.port(), "/");
  server.shutdown();
  serving.join();
  REQUIRE(hi);
  CHECK(hi->status == 200);
  CHECK(hi->body == "hi goro");
  REQUIRE(root);
  CHECK(root->status == 404);
}
