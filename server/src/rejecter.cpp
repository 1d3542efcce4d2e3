// 503 for connections the server will not serve: see rejecter.hpp.
#include "rejecter.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <system_error>

#include "goro/http/response.hpp"

namespace goro::http::detail {

namespace {

using namespace std::chrono_literals;

// A rejected client gets this long to read its 503 and close.  Beyond
// kMaxLingering waiting at once (a flood), new rejects close at once.
constexpr auto kRejectLinger = 1s;
constexpr size_t kMaxLingering = 4096;

// Writes a 503 with Retry-After and shuts the write side.  Never blocks the
// acceptor: the 503 fits in an empty socket buffer.
void send_503(netpoll::Conn& c, std::string_view why) {
  Response r = Response::error(503, why);
  r.headers.push_back({"Retry-After", "1"});
  fmt::memory_buffer out;
  write_head(out, r, /*keep_alive=*/false);
  out.append(r.body);
  c.write_all({out.data(), out.size()}, netpoll::Clock::now());
  ::shutdown(c.fd(), SHUT_WR);
}

}  // namespace

void Rejecter::reject(netpoll::Conn& c) {
  metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
  send_503(c, "too many connections");  // without reading the request
  std::lock_guard lk(mu_);
  if (lingering_.size() >= kMaxLingering) return c.close();
  lingering_.push_back({std::move(c), netpoll::Clock::now() + kRejectLinger});
  if (thread_.joinable()) return;
  try {
    thread_ = std::thread([this] { linger_loop(); });
  } catch (const std::system_error&) {
    // Out of threads (thread mode rejects for exactly that): the 503 is
    // written; close now rather than let the exception end the accept loop.
    lingering_.pop_back();
  }
}

void Rejecter::refuse_now(netpoll::Conn& c, std::string_view why) {
  metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
  char sink[4096];
  // recv itself, not Conn::read: on EAGAIN that would wait (park), however briefly.
  for (int i = 0; i < 16 && ::recv(c.fd(), sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  send_503(c, why);
  c.close();
}

void Rejecter::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Rejecter::linger_loop() {
  std::vector<pollfd> pfds;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      auto now = netpoll::Clock::now();
      char sink[4096];
      // Drop those that reached EOF, failed, or ran out of time.
      std::erase_if(lingering_, [&](Lingering& l) {
        ssize_t n;
        while ((n = l.conn.read(sink, now)) > 0) {
        }
        return n == 0 || (n < 0 && n != -ETIMEDOUT) || now >= l.until;
      });
      if (stop_ && lingering_.empty()) return;
      pfds.clear();
      for (auto& l : lingering_) pfds.push_back({l.conn.fd(), POLLIN, 0});
    }
    // 50 ms: new arrivals wait at most this long to be polled; the cost is a
    // wakeup 20 times a second while anything lingers.
    if (pfds.empty()) std::this_thread::sleep_for(50ms);
    else ::poll(pfds.data(), pfds.size(), 50);
  }
}

}  // namespace goro::http::detail
