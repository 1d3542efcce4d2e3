// Test-side HTTP client on raw POSIX sockets — deliberately independent of
// the server's own netpoll and parser code, so a bug there cannot hide itself.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goro::test {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  const std::string* header(std::string_view name) const;
};

class Client {
 public:
  explicit Client(int port);  // connects to 127.0.0.1:port; throws on failure
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends every byte; false if the connection broke.
  bool send(std::string_view data);
  // Reads one response (body by Content-Length, or none for HEAD / 1xx).
  // nullopt on EOF, error or timeout.
  std::optional<HttpResponse> read_response(bool head = false,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True if the server closes the connection (EOF or reset) within timeout;
  // any bytes that arrive first are discarded.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Shuts both directions down (a send or read blocked in another thread
  // returns).
  void shutdown();

 private:
  // Reads more into buf_; false on EOF/error/timeout.
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
};

// One request on a fresh connection: send `raw`, read one response.
std::optional<HttpResponse> fetch(int port, std::string_view raw);
// "GET <target> HTTP/1.1" with Host, on a fresh connection.
std::optional<HttpResponse> get(int port, std::string_view target);

}  // namespace goro::test
