// goro/net/poller.hpp — the netpoller: what parks a goroutine on I/O.
//
// Every backend implements goro::Poller (the runtime's interface: poll(timeout)
// and wake()) plus the one parking operation netpoll needs, wait_fd(): "park
// this goroutine until fd is readable/writable or the deadline passes".
// Conn, Listener and File try the non-blocking syscall first and call
// wait_fd() only on EAGAIN — Go's netpoll contract (pollDesc.wait) — so a
// read whose bytes are already there costs one syscall and no park.
//
// Backends (one instance per P, created on its worker thread):
//   uring — an io_uring ring (SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN
//           where the kernel has them); waits are POLL_ADD SQEs with a linked
//           absolute timeout for the deadline, submitted in a batch when the
//           worker next polls; file reads are IORING_OP_READ.
//   epoll — an epoll instance; waits are EPOLLONESHOT registrations and a
//           per-P deadline heap.  Used where io_uring is unavailable (Docker's
//           default seccomp profile, kernel.io_uring_disabled, old kernels).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "goro/net/deadline.hpp"
#include "goro/runtime.hpp"

namespace goro::net {

enum class PollerKind { automatic, uring, epoll };
std::string_view to_string(PollerKind k);

// The backend to use and why ("io_uring with SINGLE_ISSUER|DEFER_TASKRUN",
// "epoll: io_uring_setup: Operation not permitted").  `automatic` probes
// io_uring once; an explicit kind is honoured if it works at all.
struct PollerChoice {
  PollerKind kind;
  std::string detail;
};
PollerChoice choose_poller(PollerKind requested);

// For goro::Options::poller: makes the chosen backend on each worker.
std::function<std::unique_ptr<goro::Poller>(int worker)> poller_factory(PollerKind kind);

// Counters summed over every poller (relaxed; for /metrics and /debug/vars).
struct PollerStats {
  uint64_t submissions = 0;  // SQEs submitted / fds armed
  uint64_t completions = 0;  // CQEs reaped / events delivered
  uint64_t parks = 0;        // goroutines parked in wait_fd
  uint64_t timeouts = 0;     // waits ended by their deadline
  uint64_t wakes = 0;        // wake() calls that had to signal
};
PollerStats poller_stats();

namespace detail {

// The parking side of a backend.  Called only from a goroutine running on
// the worker that owns this backend (the P's poller).
class Backend : public goro::Poller {
 public:
  // Parks until fd reports one of `events` (POLLIN, POLLOUT; errors and
  // hang-ups count as ready), or until `d` (-ETIMEDOUT).  0 when ready.
  virtual int wait_fd(int fd, short events, Deadline d) = 0;
  // Reads a regular file without blocking the worker.  Count or -errno.
  virtual ssize_t pread(int fd, void* buf, size_t len, uint64_t offset) = 0;
};

// The calling goroutine's backend, or nullptr on an OS thread (or under a
// runtime started without a netpoll poller).  Good until the next park.
Backend* current_backend() noexcept;

}  // namespace detail
}  // namespace goro::net
