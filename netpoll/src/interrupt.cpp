#include "goro/net/interrupt.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::net {

Interrupt::Interrupt() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) {
    std::fprintf(stderr, "goro: eventfd: %s\n", std::strerror(errno));
    std::abort();
  }
}

Interrupt::~Interrupt() { ::close(fd_); }

void Interrupt::fire() {
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  // Never read back: the eventfd stays readable, so every poller wakes.
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

}  // namespace goro::net
