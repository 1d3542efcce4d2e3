#include "goro/netpoll/interrupt.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::netpoll {

Interrupt::Interrupt() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) {
    std::fprintf(stderr, "goro: eventfd: %s\n", std::strerror(errno));
    std::abort();
  }
}

Interrupt::~Interrupt() { ::close(fd_); }

void Interrupt::fire() {
  std::lock_guard lk(mu_);
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  // Never read back: the eventfd stays readable, so every poller wakes.
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  // Enrolled fds stay open while enrolled (their owner is parked in the wait).
  for (Enrollment* e = head_; e; e = e->next) ::shutdown(e->fd, SHUT_RDWR);
}

bool Interrupt::enroll(Enrollment* e) const {
  std::lock_guard lk(mu_);
  if (fired()) return false;
  e->prev = nullptr;
  e->next = head_;
  if (head_) head_->prev = e;
  head_ = e;
  return true;
}

void Interrupt::withdraw(Enrollment* e) const {
  std::lock_guard lk(mu_);
  if (e->prev) e->prev->next = e->next;
  else if (head_ == e) head_ = e->next;
  if (e->next) e->next->prev = e->prev;
  e->prev = e->next = nullptr;
}

}  // namespace goro::netpoll
