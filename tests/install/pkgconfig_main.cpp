// One file built with nothing but pkg-config against the installed goro:
//   c++ -std=c++20 pkgconfig_main.cpp $(pkg-config --cflags --libs --static goro-http)
// It serves one request through the whole stack (runtime, netpoll, the
// llhttp parser, the router) so that a library missing from the .pc files'
// static link line fails to link here, not in a user's build.
#include <goro/http/server.hpp>
#include <goro/netpoll/conn.hpp>

#include <cstdio>
#include <string>
#include <thread>

int main() {
  goro::http::Config cfg;
  cfg.bind = "127.0.0.1";
  cfg.port = 0;
  goro::http::Server server(cfg);
  server.listen();
  std::thread serving([&] { server.serve(); });

  namespace np = goro::netpoll;
  np::Deadline d = np::deadline_in(std::chrono::seconds(10));
  np::Conn c;
  std::string got;
  if (np::Conn::connect(c, "127.0.0.1", server.port(), d) == 0 &&
      c.write_all("GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", d) == 0) {
    char buf[4096];
    for (ssize_t n; (n = c.read(buf, d)) > 0;) got.append(buf, static_cast<size_t>(n));
  }
  server.shutdown();
  serving.join();
  if (got.rfind("HTTP/1.1 404", 0) != 0) {
    std::fprintf(stderr, "pkgconfig_main: expected a 404, got %s\n", got.substr(0, 200).c_str());
    return 1;
  }
  std::puts("pkgconfig_main: ok");
}
