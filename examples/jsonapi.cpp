// jsonapi — a small JSON API on goro's handler API: routes with path
// parameters ("/users/{id}", read with req.param("id")), handlers that
// block on goro primitives, and one flag choosing the execution model.
//
//   GET    /users        every user:   [{"id":1,"name":"ann"},...]
//   GET    /users/{id}   one user, or 404
//   POST   /users        body: a name; 201 and the new user
//   DELETE /users/{id}   204, or 404
//
// Build against an installed goro (the .deb, or cmake --install into P and
// PKG_CONFIG_PATH=P/lib/pkgconfig):
//   g++ -std=c++20 -O2 jsonapi.cpp -o jsonapi $(pkg-config --cflags --libs --static goro-http)
// or with CMake: examples/CMakeLists.txt.
//
//   ./jsonapi [PORT] [goroutine|thread|pool]   # 127.0.0.1:PORT, default 8081; 0 picks a free port
//   curl 127.0.0.1:8081/users/1
#include <goro/http/server.hpp>
#include <goro/sync.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace http = goro::http;

namespace {

// The store.  A goro::Mutex: in goroutine mode a handler waiting for it
// parks (a std::mutex would block its worker thread); in thread and pool
// modes it blocks the thread like any mutex.
struct Users {
  goro::Mutex mu;
  std::map<std::int64_t, std::string> by_id;  // guarded by mu
  std::int64_t next_id = 1;                   // guarded by mu
};

// A JSON string literal: quotes, backslashes and control characters escaped.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string user_json(std::int64_t id, std::string_view name) {
  return fmt::format("{{\"id\":{},\"name\":{}}}", id, json_string(name));
}

http::Response json(int status, std::string body) {
  http::Response r = http::Response::text(status, std::move(body) + "\n");
  r.content_type = "application/json";
  return r;
}

// The {id} path parameter as a number, or nullopt (then: 404).
std::optional<std::int64_t> id_param(const http::Request& req) {
  std::string_view s = req.param("id");
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return id;
}

void add_routes(http::Server& server, Users& users) {
  server.get("/users", [&](const http::Request&, const http::Context&) {
    std::lock_guard lock(users.mu);
    std::string body = "[";
    for (const auto& [id, name] : users.by_id) {
      if (body.size() > 1) body += ',';
      body += user_json(id, name);
    }
    return json(200, body + "]");
  });
  server.get("/users/{id}", [&](const http::Request& req, const http::Context&) {
    std::optional<std::int64_t> id = id_param(req);
    std::lock_guard lock(users.mu);
    auto it = id ? users.by_id.find(*id) : users.by_id.end();
    if (it == users.by_id.end()) return json(404, R"({"error":"no such user"})");
    return json(200, user_json(it->first, it->second));
  });
  server.post("/users", [&](const http::Request& req, const http::Context&) {
    std::string_view name = req.body;
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.remove_suffix(1);
    if (name.empty()) return json(400, R"({"error":"the body is the new user's name"})");
    std::lock_guard lock(users.mu);
    std::int64_t id = users.next_id++;
    users.by_id.emplace(id, std::string(name));
    return json(201, user_json(id, name));
  });
  server.del("/users/{id}", [&](const http::Request& req, const http::Context&) {
    std::optional<std::int64_t> id = id_param(req);
    std::lock_guard lock(users.mu);
    if (!id || users.by_id.erase(*id) == 0) return json(404, R"({"error":"no such user"})");
    return http::Response::text(204, "");
  });
}

}  // namespace

int main(int argc, char** argv) {
  http::block_shutdown_signals();  // first: every thread started later inherits the mask
  http::Config cfg;
  cfg.bind = "127.0.0.1";
  cfg.port = argc > 1 ? std::atoi(argv[1]) : 8081;
  std::string_view mode = argc > 2 ? argv[2] : "goroutine";
  if (mode == "thread") {
    cfg.mode = http::Mode::thread;
  } else if (mode == "pool") {
    cfg.mode = http::Mode::pool;
  } else if (mode != "goroutine") {
    std::fprintf(stderr, "usage: jsonapi [PORT] [goroutine|thread|pool]\n");
    return 2;
  }

  Users users;
  users.by_id.emplace(users.next_id++, "ann");
  http::Server server(cfg);
  add_routes(server, users);
  server.listen();
  std::printf("jsonapi: listening on 127.0.0.1:%d, %s mode\n", server.port(), std::string(mode).c_str());
  std::fflush(stdout);
  return server.run() ? 0 : 1;  // until SIGINT or SIGTERM
}
