// TechEmpower's test types (see techempower.hpp).  The rules they follow,
// from the benchmark's "Framework Tests Overview":
//   /queries, /updates: ?queries=N clamped to 1..500; missing or not a
//     number means 1.  Each row is fetched by its own query (they may be
//     pipelined: one round trip, still N statements).
//   /updates: the rows read are given new random numbers and persisted; a
//     batch UPDATE is allowed.
//   /fortunes: every row, plus one added at request time, sorted by
//     message, in an HTML table with every message escaped.
#include "goro/http/techempower.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "log_limit.hpp"

namespace goro::http {

namespace {

constexpr int kWorldRows = 10'000;
constexpr int kMaxQueries = 500;

const char* const kSelectWorld = "world";
const char* const kSelectFortunes = "fortunes";
const char* const kUpdateWorlds = "update";

// One random generator per OS thread: a handler uses it without parking in
// between, so the goroutine cannot move to another thread mid-use.
int random_row() {
  thread_local std::minstd_rand gen{std::random_device{}()};
  return std::uniform_int_distribution<int>(1, kWorldRows)(gen);
}

// ?queries=N: 1..500; anything else that is not a number means 1.
int queries_param(const Request& req) {
  auto v = req.query_param("queries");
  if (!v) return 1;
  long long n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec == std::errc::result_out_of_range) return (!v->empty() && v->front() == '-') ? 1 : kMaxQueries;
  if (ec != std::errc{} || end != v->data() + v->size()) return 1;
  return static_cast<int>(std::clamp<long long>(n, 1, kMaxQueries));
}

Response json(const nlohmann::json& j) {
  Response r = Response::text(200, j.dump());
  r.content_type = "application/json";
  return r;
}

// The database's failure as an answer (techempower.hpp).  Unavailability is
// logged at most once a second: while the database is down every request
// would log.
Response db_failure(const pg::Status& st) {
  switch (st.code) {
    case pg::Errc::unavailable: {
      static EverySecond log;
      if (log.due()) spdlog::warn("database unavailable: {}", st.message);
      return Response::retry_later("database unavailable: " + st.message);
    }
    case pg::Errc::busy: return Response::retry_later(st.message);
    case pg::Errc::timeout: return Response::error(504, "database timeout: " + st.message);
    default: return Response::error(500, "database error: " + st.message);
  }
}

struct World {
  int id;
  long long random_number;
};

nlohmann::json to_json(const World& w) { return {{"id", w.id}, {"randomNumber", w.random_number}}; }

// Reads n random rows, each its own statement, in one round trip.
pg::Status read_worlds(pg::Conn& c, int n, pg::Deadline d, std::vector<World>& out) {
  std::vector<std::string> ids(n);
  std::vector<const char*> params(n);
  std::vector<pg::Query> queries(n);
  for (int i = 0; i < n; ++i) {
    ids[i] = std::to_string(random_row());
    params[i] = ids[i].c_str();
    queries[i] = {kSelectWorld, {&params[i], 1}};
  }
  std::vector<pg::Result> results;
  if (pg::Status st = c.exec_pipeline(queries, d, results); !st.ok()) return st;
  out.clear();
  for (const pg::Result& r : results) {
    World w{};
    long long id = 0;
    if (r.rows() != 1 || !r.integer(0, 0, id) || !r.integer(0, 1, w.random_number))
      return {pg::Errc::query, "world: expected one row of two integers"};
    w.id = static_cast<int>(id);
    out.push_back(w);
  }
  return {};
}

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

}  // namespace

pg::Status prepare_techempower(pg::Conn& c, pg::Deadline d) {
  if (auto st = c.prepare(kSelectWorld, "SELECT id, randomnumber FROM world WHERE id = $1", d); !st.ok()) return st;
  if (auto st = c.prepare(kSelectFortunes, "SELECT id, message FROM fortune", d); !st.ok()) return st;
  // One statement for the whole batch: ids and numbers as two arrays.
  return c.prepare(kUpdateWorlds,
                   "UPDATE world SET randomnumber = u.r FROM "
                   "(SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS u WHERE world.id = u.id",
                   d);
}

void add_techempower_routes(Router& r, std::shared_ptr<pg::Pool> pool, std::chrono::milliseconds timeout) {
  constexpr Answers at_once = Answers::at_once;
  r.add({"GET"}, "/json", [](const Request&, const Context&) {
    return json({{"message", "Hello, World!"}});
  }, false, at_once);
  r.add({"GET"}, "/plaintext", [](const Request&, const Context&) {
    Response res = Response::text(200, "Hello, World!");
    res.content_type = "text/plain";
    return res;
  }, false, at_once);

  // Every database route: the deadline, the pool (or 503 without one), and
  // the failure mapping; `work` only does the queries.
  auto with_db = [pool, timeout](auto work) {
    return [pool, timeout, work](const Request& req, const Context&) -> Response {
      if (!pool) return Response::error(503, "no database configured: start goro with --db CONNINFO");
      pg::Deadline d = netpoll::deadline_in(timeout);
      Response res;
      pg::Status st = pool->run(d, [&](pg::Conn& c) { return work(req, c, d, res); });
      return st.ok() ? std::move(res) : db_failure(st);
    };
  };

  r.add({"GET"}, "/db", with_db([](const Request&, pg::Conn& c, pg::Deadline d, Response& res) {
    std::vector<World> rows;
    if (pg::Status st = read_worlds(c, 1, d, rows); !st.ok()) return st;
    res = json(to_json(rows[0]));
    return pg::Status{};
  }));

  r.add({"GET"}, "/queries", with_db([](const Request& req, pg::Conn& c, pg::Deadline d, Response& res) {
    std::vector<World> rows;
    if (pg::Status st = read_worlds(c, queries_param(req), d, rows); !st.ok()) return st;
    nlohmann::json a = nlohmann::json::array();
    for (const World& w : rows) a.push_back(to_json(w));
    res = json(a);
    return pg::Status{};
  }));

  r.add({"GET"}, "/updates", with_db([](const Request& req, pg::Conn& c, pg::Deadline d, Response& res) {
    std::vector<World> rows;
    if (pg::Status st = read_worlds(c, queries_param(req), d, rows); !st.ok()) return st;
    // One new number per distinct id, sorted by id: concurrent batches then
    // lock rows in the same order (no deadlock), and a row drawn twice
    // shows the value it was given.
    std::vector<World> batch;
    for (const World& w : rows) batch.push_back({w.id, random_row()});
    std::sort(batch.begin(), batch.end(), [](const World& a, const World& b) { return a.id < b.id; });
    batch.erase(std::unique(batch.begin(), batch.end(), [](const World& a, const World& b) { return a.id == b.id; }),
                batch.end());
    std::string ids = "{", numbers = "{";
    for (size_t i = 0; i < batch.size(); ++i) {
      ids += (i ? "," : "") + std::to_string(batch[i].id);
      numbers += (i ? "," : "") + std::to_string(batch[i].random_number);
    }
    ids += '}';
    numbers += '}';
    const char* params[] = {ids.c_str(), numbers.c_str()};
    pg::Result updated;
    if (pg::Status st = c.exec(kUpdateWorlds, params, d, updated); !st.ok()) return st;
    nlohmann::json a = nlohmann::json::array();
    for (const World& w : rows) {
      auto it = std::lower_bound(batch.begin(), batch.end(), w.id, [](const World& b, int id) { return b.id < id; });
      a.push_back(to_json(*it));
    }
    res = json(a);
    return pg::Status{};
  }));

  // The pool's state, for watching it under load (and for tests).
  r.add({"GET"}, "/debug/db", [pool](const Request&, const Context&) {
    if (!pool) return json({{"configured", false}});
    pg::Pool::Stats s = pool->stats();
    return json({{"configured", true}, {"size", s.size}, {"open", s.open}, {"idle", s.idle},
                 {"waiting", s.waiting}, {"acquires", s.acquires}, {"waits", s.waits}, {"busy", s.busy},
                 {"connects", s.connects}, {"connect_failures", s.connect_failures}, {"discarded", s.discarded}});
  }, false, at_once);

  r.add({"GET"}, "/fortunes", with_db([](const Request&, pg::Conn& c, pg::Deadline d, Response& res) {
    pg::Result rows;
    if (pg::Status st = c.exec(kSelectFortunes, {}, d, rows); !st.ok()) return st;
    std::vector<std::pair<long long, std::string_view>> fortunes;
    fortunes.reserve(rows.rows() + 1);
    for (int i = 0; i < rows.rows(); ++i) {
      long long id = 0;
      if (!rows.integer(i, 0, id)) return pg::Status{pg::Errc::query, "fortune: id is not an integer"};
      fortunes.emplace_back(id, rows.text(i, 1));
    }
    fortunes.emplace_back(0, "Additional fortune added at request time.");
    // Byte order of UTF-8 is code point order.
    std::sort(fortunes.begin(), fortunes.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    std::string html =
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>";
    for (const auto& [id, message] : fortunes) {
      html += "<tr><td>";
      html += std::to_string(id);
      html += "</td><td>";
      append_escaped(html, message);
      html += "</td></tr>";
    }
    html += "</table></body></html>";
    res = Response::text(200, std::move(html));
    res.content_type = "text/html; charset=utf-8";
    return pg::Status{};
  }));
}

}  // namespace goro::http
