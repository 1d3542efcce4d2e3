#include "goro/netpoll/poller.hpp"

#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "backend.hpp"
#include "backend_impl.hpp"
#include "stats.hpp"

namespace goro::netpoll {

std::string_view to_string(PollerKind k) {
  switch (k) {
    case PollerKind::uring: return "uring";
    case PollerKind::epoll: return "epoll";
    default: return "auto";
  }
}

PollerChoice choose_poller(PollerKind requested) {
  if (requested == PollerKind::epoll)
    return {PollerKind::epoll, "--poller=epoll", "epoll (--poller=epoll)"};
  std::string what;
  // Probe on this thread; each worker makes its own ring later.
  if (auto probe = detail::make_uring_poller(&what)) return {PollerKind::uring, "", what};
  if (requested == PollerKind::uring)  // the caller reports the failure
    return {PollerKind::uring, what, "io_uring unavailable: " + what};
  return {PollerKind::epoll, what, "epoll (io_uring unavailable: " + what + ")"};
}

std::unique_ptr<goro::Poller> make_poller(PollerKind kind, std::string* detail) {
  return kind == PollerKind::epoll ? detail::make_epoll_poller(detail) : detail::make_uring_poller(detail);
}

std::function<std::unique_ptr<goro::Poller>(int)> poller_factory(PollerKind kind) {
  return [kind](int worker) -> std::unique_ptr<goro::Poller> {
    std::string detail;
    auto p = make_poller(kind, &detail);
    if (!p) {
      std::fprintf(stderr, "goro: worker %d: cannot create its %s poller: %s\n", worker,
                   std::string(to_string(kind)).c_str(), detail.c_str());
      std::abort();
    }
    return p;
  };
}

PollerStats poller_stats() {
  auto& c = detail::counters();
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return {ld(c.submissions), ld(c.completions), ld(c.parks),        ld(c.timeouts),
          ld(c.wakes),       ld(c.recv_buffered), ld(c.recv_nobufs), ld(c.accepts_multishot)};
}

namespace detail {

Counters& counters() {
  static Counters c;
  return c;
}

void complete(WaitRecord* w) {
  if (w->g) return goro::ready(w->g);
  Callback* cb = w->cb;
  int res = w->res;
  if (const Interrupt* intr = CallbackAccess::intr(*cb)) {
    intr->withdraw(&CallbackAccess::enrollment(*cb));
    if (intr->fired()) res = -ECANCELED;
  }
  cb->on_ready(res, w->data);
}

void Backend::read_async(WaitRecord* w) { wait_fd_async(w, POLLIN); }
bool Backend::arm_accept(AcceptQueue*) { return false; }
bool Backend::sends_before_waits() const { return false; }
void Backend::send_then_read_async(WaitRecord*, std::span<const char>, Clock::duration) {
  std::fputs("goro: netpoll: send_then_read_async on a backend that does not send\n", stderr);
  std::abort();
}

Backend* current_backend() noexcept {
  if (!goro::in_goroutine()) return nullptr;
  return dynamic_cast<Backend*>(goro::current_poller());
}

}  // namespace detail
}  // namespace goro::netpoll
