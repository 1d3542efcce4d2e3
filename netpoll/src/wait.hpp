// What Conn and Listener share (internal): the one place they wait, and
// address parsing.
#pragma once

#include <sys/socket.h>

#include <string>

#include "goro/netpoll/deadline.hpp"

namespace goro::netpoll {
class Interrupt;
namespace detail {

// Waits until fd reports `events`, the deadline passes (-ETIMEDOUT) or
// `intr` fires (-ECANCELED); 0 when ready.  In a goroutine on a netpoll
// backend it parks (Backend::wait_fd); on an OS thread it blocks in poll(2).
int wait_fd(int fd, short events, Deadline d, const Interrupt* intr);

// Fills `ss` from a numeric IPv4/IPv6 address and a port; returns its
// length, or 0 if the address or port is invalid.
socklen_t socket_address(const std::string& host, int port, sockaddr_storage& ss);

}  // namespace detail
}  // namespace goro::netpoll
