// goro/netpoll/poller_kind.hpp — the names of the netpoll backends, all a
// configuration needs (goro/netpoll/poller.hpp chooses and builds them).
#pragma once

#include <string_view>

namespace goro::netpoll {

enum class PollerKind { automatic, uring, epoll };
std::string_view to_string(PollerKind k);  // "auto", "uring", "epoll"

}  // namespace goro::netpoll
