// goro/netpoll/poller.hpp — the netpoller: what parks a goroutine on I/O.
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
//           where the kernel has them); waits are POLL_ADD SQEs submitted in
//           a batch when the worker next polls, deadlines a per-P heap that
//           cancels what expires; file reads are IORING_OP_READ.  An idle
//           connection's wait (Conn::when_readable) is a RECV that takes a
//           buffer from the P's provided-buffer ring only when bytes arrive,
//           so the wake-up brings the request with it (no recv syscall) and
//           an idle connection still pins no buffer.  Listeners accept
//           through one multishot ACCEPT.
//   epoll — an epoll instance; waits are EPOLLONESHOT registrations and a
//           per-P deadline heap.  Used where io_uring is unavailable (Docker's
//           default seccomp profile, kernel.io_uring_disabled, old kernels).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "goro/netpoll/deadline.hpp"
#include "goro/netpoll/interrupt.hpp"
#include "goro/runtime.hpp"

namespace goro::netpoll {

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

// One backend instance for the calling worker thread, or nullptr with the
// reason in *detail.  Tests wrap it to inject faults (see netpoll_test.cpp).
std::unique_ptr<goro::Poller> make_poller(PollerKind kind, std::string* detail);

// For goro::Options::poller: makes the chosen backend on each worker.
std::function<std::unique_ptr<goro::Poller>(int worker)> poller_factory(PollerKind kind);

// Counters summed over every poller (relaxed; for /metrics and /debug/vars).
struct PollerStats {
  uint64_t submissions = 0;  // SQEs submitted / fds armed
  uint64_t completions = 0;  // CQEs reaped / events delivered
  uint64_t parks = 0;        // goroutines parked in wait_fd
  uint64_t timeouts = 0;     // waits ended by their deadline
  uint64_t wakes = 0;        // wake() calls that had to signal
  uint64_t recv_buffered = 0;  // idle waits that arrived with their bytes (uring)
  uint64_t recv_nobufs = 0;    // ... that found the buffer ring empty: a plain recv follows
  uint64_t accepts_multishot = 0;  // connections a multishot accept delivered (uring)
};
PollerStats poller_stats();

struct Callback;

namespace detail {

struct AcceptQueue;

// One pending wait, owned by whoever waits: on a parked goroutine's stack
// (g set) or inside a Callback (cb set).  Backends keep pointers to it until
// it completes; nothing else may touch it meanwhile.
struct WaitRecord {
  goro::G* g = nullptr;
  Callback* cb = nullptr;
  int fd = -1;
  int res = 0;
  Deadline deadline = kNoDeadline;
  // Slot in the owning P's DeadlineHeap, or kNotInHeap.
  static constexpr size_t kNotInHeap = static_cast<size_t>(-1);
  size_t heap_index = kNotInHeap;
  bool expired = false;   // uring: the deadline passed and a cancel went out
  bool buffered = false;  // uring: a RECV into the provided-buffer ring, not a POLL_ADD
  AcceptQueue* accept = nullptr;  // uring: this is q->wait, q's multishot ACCEPT
  // Bytes the backend already read for a read_async wait; valid only while
  // complete() runs.
  std::span<const char> data;
};

// Called by a backend, on its worker, when w's wait is over (w->res set):
// readies the goroutine, or withdraws the callback's enrollment and runs it.
void complete(WaitRecord* w);

}  // namespace detail

// A wait that holds no goroutine (see Conn::when_readable).  on_ready runs on
// the worker thread that reaped the completion — not in a goroutine, so it
// must not block or park; it typically spawns one (goro::go).
struct Callback {
  // res: 0 when readable, -ETIMEDOUT at the deadline, -ECANCELED when the
  // interrupt fired, or another -errno.  `data`: the first bytes, when the
  // poller read them itself (io_uring); valid only during the call — copy
  // what you keep.  Empty data with res == 0 means "read them yourself"
  // (there may be bytes, or EOF, or an error for read() to report).
  virtual void on_ready(int res, std::span<const char> data) = 0;

  virtual ~Callback() = default;

 private:
  friend class Conn;
  friend void detail::complete(detail::WaitRecord* w);
  detail::WaitRecord wait_;
  const Interrupt* intr_ = nullptr;
  Interrupt::Enrollment enrollment_{-1};
};

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
  // Arms a wait that completes by running w->cb->on_ready(res) on this
  // worker.  w->fd and w->deadline are set by the caller.  Called from a
  // goroutine on this backend's worker; returns at once.
  virtual void wait_fd_async(WaitRecord* w, short events) = 0;
  // Like wait_fd_async(w, POLLIN), but the backend may read the first bytes
  // itself and hand them to on_ready (w->data).
  virtual void read_async(WaitRecord* w);
  // Arms a multishot accept on q->fd whose completions go to
  // accept_completed(q, ...) on this worker (netpoll/src/accept_queue.hpp).
  // False if the backend has none (epoll): Listener then uses accept4 +
  // wait_fd.
  virtual bool arm_accept(AcceptQueue* q);
};


// The calling goroutine's backend, or nullptr on an OS thread (or under a
// runtime started without a netpoll poller).  Good until the next park.
Backend* current_backend() noexcept;

}  // namespace detail
}  // namespace goro::netpoll
