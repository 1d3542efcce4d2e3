// The one place Conn and Listener wait (internal).
#pragma once

#include "goro/net/deadline.hpp"

namespace goro::net {
class Interrupt;
namespace detail {

// Waits until fd reports `events`, the deadline passes (-ETIMEDOUT) or
// `intr` fires (-ECANCELED); 0 when ready.  In a goroutine on a netpoll
// backend it parks (Backend::wait_fd); on an OS thread it blocks in poll(2).
int wait_fd(int fd, short events, Deadline d, const Interrupt* intr);

}  // namespace detail
}  // namespace goro::net
