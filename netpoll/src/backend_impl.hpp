// Backend constructors (internal).  Each returns nullptr, with the reason in
// *detail, when the kernel refuses; on success *detail says what was set up.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "backend.hpp"
#include "goro/netpoll/poller.hpp"
#include "stats.hpp"

namespace goro::netpoll::detail {

std::unique_ptr<goro::Poller> make_uring_poller(std::string* detail);
std::unique_ptr<goro::Poller> make_epoll_poller(std::string* detail);

// What both backends do the same way.

// wake(): makes the eventfd the poller waits on readable.  Any thread.
inline void signal_eventfd(int fd) {
  bump(counters().wakes);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

// The record of a wait by the calling goroutine (it lives on its stack).
inline WaitRecord goroutine_wait(int fd, Deadline d) {
  WaitRecord w;
  w.g = goro::current_g();
  w.fd = fd;
  w.deadline = d;
  return w;
}

}  // namespace goro::netpoll::detail
