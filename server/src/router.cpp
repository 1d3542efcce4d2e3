// The router and the library's middleware.
//
// Invariants: every Route lives in routes_ (heap-allocated, so the
// requests that point to it, Request::route, can rely on it); each is in exactly
// one of exact_, patterns_ and prefixes_.  patterns_ is sorted by segment
// kinds, literal < {name} < {name...}, position by position, which puts the
// more specific of two overlapping patterns first (registration refuses
// overlaps with no more specific one), so the first match is the best.
// An Endpoint's `wrapped` is `handler` inside middleware_, recomputed
// whenever either changes.
#include "goro/http/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace goro::http {

namespace {

struct Segment {
  enum Kind : uint8_t { literal, param, rest } kind;  // the order is specificity's
  std::string text;                                  // the literal, or the parameter's name
};

[[noreturn]] void refuse(std::string_view path, std::string_view why) {
  throw std::invalid_argument(fmt::format("route \"{}\": {}", path, why));
}

// Splits "/users/{id}" into segments; throws on a malformed pattern.
std::vector<Segment> parse_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern[0] != '/') refuse(pattern, "a path must begin with '/'");
  std::vector<Segment> segs;
  std::string_view rest = pattern.substr(1);
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view s = rest.substr(0, slash);
    if (s.find_first_of("{}") == std::string_view::npos) {
      segs.push_back({Segment::literal, std::string(s)});
    } else {
      if (s.front() != '{' || s.find('}') == std::string_view::npos) {
        if (s.find('}') == std::string_view::npos) refuse(pattern, "'{' is not closed");
        refuse(pattern, "a parameter must be a whole segment, like /{name}/");
      }
      if (s.back() != '}') refuse(pattern, "a parameter must be a whole segment, like /{name}/");
      std::string_view name = s.substr(1, s.size() - 2);
      bool is_rest = name.ends_with("...");
      if (is_rest) name.remove_suffix(3);
      if (name.empty() || name.find_first_of("{}.") != std::string_view::npos)
        refuse(pattern, fmt::format("bad parameter name in \"{}\"", s));
      if (is_rest && slash != std::string_view::npos)
        refuse(pattern, fmt::format("\"{}\" matches the rest of the path and must come last", s));
      for (const auto& p : segs)
        if (p.kind != Segment::literal && p.text == name)
          refuse(pattern, fmt::format("parameter \"{}\" appears twice", name));
      segs.push_back({is_rest ? Segment::rest : Segment::param, std::string(name)});
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return segs;
}

// The exact table's hash: the length and two characters, mixed by one
// multiplication.  Hashing every byte (FNV-1a) took /plaintext more CPU
// than the route scan it replaced (the router looks up twice per pipelined
// request); a collision costs one more comparison.
size_t hash_path(std::string_view s) {
  if (s.empty()) return 0;
  uint64_t h = s.size() << 16 | static_cast<uint64_t>(static_cast<unsigned char>(s[s.size() / 2])) << 8 |
               static_cast<unsigned char>(s.back());
  return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> 32);
}

// How the sets of paths two patterns match relate.
enum class Overlap { none, same, a_narrower, b_narrower, ambiguous };

Overlap overlap(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  bool a_more = false, b_more = false;  // somewhere a (b) is the more specific
  for (size_t i = 0;; ++i) {
    bool a_end = i == a.size(), b_end = i == b.size();
    if (a_end && b_end) break;
    // One has more segments and no {name...} where the other ended.
    if (a_end || b_end) return Overlap::none;
    Segment::Kind ka = a[i].kind, kb = b[i].kind;
    if (ka == Segment::rest || kb == Segment::rest) {
      if (ka != kb) (ka == Segment::rest ? b_more : a_more) = true;
      break;
    }
    if (ka == Segment::literal && kb == Segment::literal) {
      if (a[i].text != b[i].text) return Overlap::none;
    } else if (ka != kb) {
      // {name} never matches an empty segment.
      if ((ka == Segment::literal ? a : b)[i].text.empty()) return Overlap::none;
      (ka == Segment::literal ? a_more : b_more) = true;
    }
  }
  if (a_more && b_more) return Overlap::ambiguous;
  return a_more ? Overlap::a_narrower : b_more ? Overlap::b_narrower : Overlap::same;
}

// Whether `path` matches the pattern `segs`; if so and the pattern has a
// parameter `name`, its value is stored in *value.
bool walk(const std::vector<Segment>& segs, std::string_view path, std::string_view name = {},
          std::string_view* value = nullptr) {
  if (path.empty() || path[0] != '/') return false;
  size_t pos = 1;
  bool more = true;  // path has a segment at pos
  for (const auto& seg : segs) {
    if (!more) return false;
    bool wanted = value && seg.kind != Segment::literal && seg.text == name;
    if (seg.kind == Segment::rest) {
      if (wanted) *value = path.substr(pos);
      return true;
    }
    size_t slash = path.find('/', pos);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    std::string_view s = path.substr(pos, end - pos);
    if (seg.kind == Segment::literal ? s != seg.text : s.empty()) return false;
    if (wanted) *value = s;
    more = slash != std::string_view::npos;
    pos = end + 1;
  }
  return !more;
}

}  // namespace

// What a Request sees of its route (Request::route).
struct detail::RoutePattern {
  std::string path;               // as registered
  std::vector<Segment> segments;  // patterns only
};

std::string_view Request::pattern() const { return route ? std::string_view(route->path) : std::string_view(); }

std::string_view Request::param(std::string_view name) const {
  std::string_view value;
  if (route && !route->segments.empty()) walk(route->segments, path(), name, &value);
  return value;
}

struct Router::Route : detail::RoutePattern {
  enum class Kind { exact, pattern, prefix } kind;
  struct Endpoint {
    std::string method;
    Handler handler;
    Handler wrapped;  // handler inside the router's middleware
    Answers answers;
    bool implied;  // HEAD added for GET
  };
  std::vector<Endpoint> endpoints;  // in registration order: the Allow header's

  const Endpoint* endpoint(std::string_view method) const {
    for (const auto& e : endpoints)
      if (e.method == method) return &e;
    return nullptr;
  }
};

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router::Route& Router::route_for(std::string path, bool prefix) {
  bool is_pattern = path.find_first_of("{}") != std::string::npos;
  if (prefix && is_pattern) refuse(path, "a prefix route cannot have parameters");
  if (!prefix && !is_pattern) {
    if (path.empty() || path[0] != '/') refuse(path, "a path must begin with '/'");
    if (!exact_.empty())
      if (Route* r = exact_[exact_index(path)]) return *r;
    if (2 * (exact_count_ + 1) > exact_.size()) {
      std::vector<Route*> old(std::max<size_t>(16, 2 * exact_.size()), nullptr);
      old.swap(exact_);
      for (Route* r : old)
        if (r) exact_[exact_index(r->path)] = r;
    }
    auto r = std::make_unique<Route>(Route{{std::move(path), {}}, Route::Kind::exact, {}});
    exact_[exact_index(r->path)] = r.get();
    ++exact_count_;
    return *routes_.emplace_back(std::move(r));
  }
  if (prefix) {
    for (Route* p : prefixes_)
      if (p->path == path) return *p;
    auto r = std::make_unique<Route>(Route{{std::move(path), {}}, Route::Kind::prefix, {}});
    prefixes_.push_back(r.get());
    return *routes_.emplace_back(std::move(r));
  }
  std::vector<Segment> segs = parse_pattern(path);
  for (Route* p : patterns_) {
    if (p->path == path) return *p;
    switch (overlap(segs, p->segments)) {
      case Overlap::same: refuse(path, fmt::format("matches the same paths as \"{}\"", p->path));
      case Overlap::ambiguous:
        refuse(path, fmt::format("overlaps \"{}\" and neither is more specific: some paths would match both",
                                 p->path));
      default: break;
    }
  }
  auto kinds_less = [](const std::vector<Segment>& a, const std::vector<Segment>& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](const Segment& x, const Segment& y) { return x.kind < y.kind; });
  };
  auto at = std::upper_bound(patterns_.begin(), patterns_.end(), segs,
                             [&](const std::vector<Segment>& s, const Route* p) { return kinds_less(s, p->segments); });
  auto r = std::make_unique<Route>(Route{{std::move(path), std::move(segs)}, Route::Kind::pattern, {}});
  patterns_.insert(at, r.get());
  return *routes_.emplace_back(std::move(r));
}

void Router::add(std::vector<std::string> methods, std::string path, Handler h, bool prefix, Answers answers) {
  // Checked before anything changes, so a refused add leaves no trace.
  for (auto m = methods.begin(); m != methods.end(); ++m)
    if (std::find(methods.begin(), m, *m) != m) refuse(path, fmt::format("{} is listed twice", *m));
  Route& r = route_for(std::move(path), prefix);
  bool has_get = false, has_head = false;
  for (const auto& m : methods) {
    if (const Route::Endpoint* e = r.endpoint(m); e && !e->implied)
      refuse(r.path, fmt::format("{} is registered already", m));
    has_get |= m == "GET";
    has_head |= m == "HEAD";
  }
  auto place = [&](std::string method, bool implied) {
    Route::Endpoint e{std::move(method), h, wrap(h), answers, implied};
    for (auto& old : r.endpoints)
      if (old.method == e.method) return void(old = std::move(e));  // an implied HEAD, made explicit
    r.endpoints.push_back(std::move(e));
  };
  for (auto& m : methods) place(std::move(m), false);
  if (has_get && !has_head && !r.endpoint("HEAD")) place("HEAD", true);
}

void Router::handle(std::string method, std::string pattern, Handler h, Answers answers) {
  add({std::move(method)}, std::move(pattern), std::move(h), false, answers);
}
void Router::get(std::string pattern, Handler h, Answers answers) { handle("GET", std::move(pattern), std::move(h), answers); }
void Router::post(std::string pattern, Handler h, Answers answers) { handle("POST", std::move(pattern), std::move(h), answers); }
void Router::put(std::string pattern, Handler h, Answers answers) { handle("PUT", std::move(pattern), std::move(h), answers); }
void Router::del(std::string pattern, Handler h, Answers answers) { handle("DELETE", std::move(pattern), std::move(h), answers); }

void Router::use(Middleware m) {
  middleware_.push_back(std::move(m));
  for (auto& r : routes_)
    for (auto& e : r->endpoints) e.wrapped = wrap(e.handler);
}

Handler Router::wrap(Handler h) const {
  for (auto m = middleware_.rbegin(); m != middleware_.rend(); ++m) h = (*m)(std::move(h));
  return h;
}

// The slot holding `path`, or the empty one where it would go.  exact_ is
// not empty and never full (route_for keeps it at most half full).
size_t Router::exact_index(std::string_view path) const {
  size_t mask = exact_.size() - 1;
  for (size_t i = hash_path(path) & mask;; i = (i + 1) & mask)
    if (!exact_[i] || exact_[i]->path == path) return i;
}

// The first route matching path (exact, then patterns from the most
// specific, then prefixes) that has an endpoint for method; if none has, the
// first matching at all, whose methods the 405 lists; nullptr for a 404.  So
// GET /users/me and DELETE /users/{id} both serve their own method.
const Router::Route* Router::find(std::string_view path, std::string_view method) const {
  const Route* first = nullptr;
  auto serves = [&](const Route* r) {
    if (!first) first = r;
    return r->endpoint(method) != nullptr;
  };
  if (!exact_.empty())
    if (const Route* r = exact_[exact_index(path)]; r && serves(r)) return r;
  for (const Route* r : patterns_)
    if (walk(r->segments, path) && serves(r)) return r;
  for (const Route* r : prefixes_)
    if (path.starts_with(r->path) && serves(r)) return r;
  return first;
}

bool Router::may_block(const Request& req) const {
  if (req.target == "*") return false;
  const Route* r = find(req.path(), req.method);
  const Route::Endpoint* e = r ? r->endpoint(req.method) : nullptr;
  return e && e->answers == Answers::may_block;
}

namespace {

std::string allow_of(const auto& endpoints) {
  std::string allow;
  bool options = false;
  for (const auto& e : endpoints) {
    allow += (allow.empty() ? "" : ", ") + e.method;
    options = options || e.method == "OPTIONS";
  }
  return options ? allow : allow + (allow.empty() ? "" : ", ") + "OPTIONS";
}

// An entity-tag list matches "*" only: goro's responses carry no ETag.
bool is_star(const std::string& v) {
  size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
  return b != std::string::npos && v.substr(b, e - b + 1) == "*";
}

// RFC 9110 §13.2.2, for what the router knows: it has no entity-tags and no
// modification dates of its own, so If-Match holds only as "*" and
// If-None-Match fails only as "*"; If-Unmodified-Since and If-Modified-Since
// have no date to compare and are ignored (§13.1.3, §13.1.4), as is Range
// (§14.2 allows it).  A handler that sets its own ETag or Last-Modified
// judges them itself.
//
// A method other than GET and HEAD may change state, so its preconditions
// are judged before its handler runs (§13.2.1): the 412 comes instead.
std::optional<Response> precondition_failed(const Request& req) {
  if (const std::string* m = req.header("If-Match"); m && !is_star(*m))
    return Response::error(412, "no current representation matches If-Match");
  if (const std::string* nm = req.header("If-None-Match"); nm && is_star(*nm))
    return Response::error(412, "a current representation exists (If-None-Match: *)");
  return std::nullopt;
}

// GET and HEAD: judged on the answer, only when it would be 2xx (§13.2.1).
Response preconditions(const Request& req, Response resp) {
  if (resp.status < 200 || resp.status >= 300) return resp;
  for (const Header& h : resp.headers)
    if (iequals(h.name, "ETag") || iequals(h.name, "Last-Modified")) return resp;
  if (const std::string* m = req.header("If-Match"); m && !is_star(*m))
    return Response::error(412, "no current representation matches If-Match");
  if (const std::string* nm = req.header("If-None-Match"); nm && is_star(*nm)) {
    Response r;
    r.status = 304;
    return r;
  }
  return resp;
}

}  // namespace

Response Router::dispatch(Request& req, const Context& ctx) const {
  // OPTIONS * (RFC 9112 §3.2.4, RFC 9110 §9.3.7): the server as a whole.
  if (req.target == "*") {
    Response r;
    r.status = 204;
    r.headers.push_back({"Allow", "GET, HEAD, POST, PUT, OPTIONS"});
    return r;
  }
  std::string_view path = req.path();
  const Route* r = find(path, req.method);
  if (!r) return Response::error(404, "no such path");
  if (req.method == "OPTIONS" && !r->endpoint("OPTIONS")) {
    Response resp;
    resp.status = 204;
    resp.headers.push_back({"Allow", allow_of(r->endpoints)});
    return resp;
  }
  const Route::Endpoint* e = r->endpoint(req.method);
  if (!e) {
    Response resp = Response::error(405, fmt::format("{} is not allowed here", req.method));
    resp.headers.push_back({"Allow", allow_of(r->endpoints)});
    return resp;
  }
  req.route = r;
  if (req.method == "GET" || req.method == "HEAD") return preconditions(req, e->wrapped(req, ctx));
  if (std::optional<Response> failed = precondition_failed(req)) return std::move(*failed);
  return e->wrapped(req, ctx);
}

// Middleware.

Middleware recover() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](const Request& req, const Context& ctx) -> Response {
      try {
        return next(req, ctx);
      } catch (const std::bad_alloc&) {
        throw;  // the connection answers 503: the server, not the handler, is short
      } catch (const std::exception& e) {
        spdlog::error("handler for {} {} threw: {}", req.method, req.target, e.what());
      } catch (...) {
        spdlog::error("handler for {} {} threw a non-exception", req.method, req.target);
      }
      return Response::error(500, "the handler failed");
    };
  };
}

Middleware log_requests() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](const Request& req, const Context& ctx) -> Response {
      if (!spdlog::default_logger_raw()->should_log(spdlog::level::debug)) return next(req, ctx);
      auto t0 = std::chrono::steady_clock::now();
      Response r = next(req, ctx);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
      spdlog::debug("{} {} (route {}) -> {} in {} us", req.method, req.target, req.pattern(), r.status, us.count());
      return r;
    };
  };
}

// One per wrapped endpoint: route_metrics runs once for each when the
// router wraps it.  Named by the endpoint's first request (the middleware
// cannot see which route it wraps); method and pattern are written once,
// under State::mu, before `named` is set.  The counters are sharded by
// thread, a cache line each: one shared line that every worker adds to
// would cost each request a cache miss (measured: /plaintext, depth 16).
struct RouteStats::Slot {
  static constexpr size_t kShards = 8;
  std::atomic<bool> named{false};
  std::string method, pattern;
  struct alignas(64) Shard {
    std::atomic<uint64_t> requests{0}, errors{0};
  };
  Shard shards[kShards];

  Shard& mine() {
    static std::atomic<size_t> next{0};
    static thread_local size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
    return shards[shard];
  }
};

struct RouteStats::State {
  mutable std::mutex mu;
  std::deque<Slot> slots;  // guarded by mu; a deque, so slots never move
};

RouteStats::RouteStats() : s_(std::make_unique<State>()) {}
RouteStats::~RouteStats() = default;

RouteStats::Slot* RouteStats::new_slot() {
  std::lock_guard lk(s_->mu);
  return &s_->slots.emplace_back();
}

std::vector<RouteStats::Row> RouteStats::rows() const {
  // Re-wrapping (Router::use) leaves a route more than one slot: add them up.
  std::map<std::pair<std::string, std::string>, Row> by_route;
  {
    std::lock_guard lk(s_->mu);
    for (const Slot& s : s_->slots) {
      if (!s.named.load(std::memory_order_acquire)) continue;
      Row& row = by_route.try_emplace({s.pattern, s.method}, Row{s.method, s.pattern, 0, 0}).first->second;
      for (const auto& shard : s.shards) {
        row.requests += shard.requests.load(std::memory_order_relaxed);
        row.errors += shard.errors.load(std::memory_order_relaxed);
      }
    }
  }
  std::vector<Row> rows;
  for (auto& [key, row] : by_route) rows.push_back(std::move(row));
  return rows;
}

namespace {

// A JSON string's contents: patterns are the program's, but may hold
// anything.
std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += c;
  }
  return out;
}

}  // namespace

std::string RouteStats::json() const {
  std::string out = "{";
  for (const Row& r : rows())
    out += fmt::format("{}\"{} {}\": {{\"requests\": {}, \"errors\": {}}}", out.size() > 1 ? ", " : "",
                       json_escape(r.method), json_escape(r.pattern), r.requests, r.errors);
  return out + "}\n";
}

Middleware route_metrics(std::shared_ptr<RouteStats> stats) {
  return [stats = std::move(stats)](Handler next) -> Handler {
    RouteStats::Slot* slot = stats->new_slot();
    return [stats, slot, next = std::move(next)](const Request& req, const Context& ctx) -> Response {
      if (!slot->named.load(std::memory_order_acquire)) {
        std::lock_guard lk(stats->s_->mu);
        if (!slot->named.load(std::memory_order_relaxed)) {
          slot->method = req.method;
          slot->pattern = req.pattern();
          slot->named.store(true, std::memory_order_release);
        }
      }
      auto count = [slot](bool error) {
        RouteStats::Slot::Shard& s = slot->mine();
        s.requests.fetch_add(1, std::memory_order_relaxed);
        if (error) s.errors.fetch_add(1, std::memory_order_relaxed);
      };
      try {
        Response r = next(req, ctx);
        count(r.status >= 500);
        return r;
      } catch (...) {
        count(true);
        throw;
      }
    };
  };
}

}  // namespace goro::http
