/// \file
/// The names of the netpoll backends, all a
/// configuration needs (goro/netpoll/poller.hpp chooses and builds them).
#pragma once

#include <string_view>

namespace goro::netpoll {

/// A netpoll backend, as `--poller` names it: io_uring, epoll, or
/// `automatic`: io_uring where it works, else epoll (choose_poller).
enum class PollerKind { automatic, uring, epoll };
/// The backend's name: "auto", "uring", "epoll".
std::string_view to_string(PollerKind k);

}  // namespace goro::netpoll
