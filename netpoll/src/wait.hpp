// What Conn and Listener share (internal): address parsing.  The one place
// they wait is the public wait_fd (goro/netpoll/fd.hpp).
#pragma once

#include <sys/socket.h>

#include <string>

#include "goro/netpoll/fd.hpp"

namespace goro::netpoll {
namespace detail {

// Fills `ss` from a numeric IPv4/IPv6 address and a port; returns its
// length, or 0 if the address or port is invalid.
socklen_t socket_address(const std::string& host, int port, sockaddr_storage& ss);

}  // namespace detail
}  // namespace goro::netpoll
