// The parking side of the netpoller (internal): the Backend interface every
// poller implements, the WaitRecord it keeps per pending wait, and complete().
// Used by conn.cpp, listener.cpp, file.cpp, poller.cpp and the backends; tests
// reach it through the goro_netpoll_internal target (netpoll/CMakeLists.txt),
// as Go's export_test.go does.  Not API: programs see only
// goro/netpoll/poller.hpp and goro/netpoll/conn.hpp.
//
// Invariants:
//   * A WaitRecord is owned by whoever waits: on a parked goroutine's stack
//     (g set) or inside a Callback (cb set).  From arming until complete()
//     the backend that armed it holds its address and nothing else touches
//     it; complete() is the backend's last touch (the goroutine may run, or
//     the callback free it, from there on).
//   * Backend methods run on the backend's own worker, called by a goroutine
//     running there (or, for poll/wake, by the runtime).  current_backend()
//     is valid until the calling goroutine's next park.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

#include "goro/netpoll/conn.hpp"
#include "goro/netpoll/deadline.hpp"
#include "goro/runtime.hpp"

namespace goro::netpoll::detail {

struct AcceptQueue;

// One pending wait (see the invariants above).
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
  bool send = false;      // uring: the record of a send linked before a wait (send_then_read_async)
  bool send_failed = false;  // uring: the send linked before this wait failed; the wait reports -EPIPE
  AcceptQueue* accept = nullptr;  // uring: this is q->wait, q's multishot ACCEPT
  // Bytes the backend already read for a read_async wait; valid only while
  // complete() runs.
  std::span<const char> data;
};

// A Callback keeps its WaitRecord in opaque storage (conn.hpp) so that the
// public header does not depend on this one.
// Exactly: a spare byte there is a byte more per idle connection.
static_assert(sizeof(WaitRecord) == Callback::kWaitBytes, "keep Callback::kWaitBytes equal to sizeof(WaitRecord)");
static_assert(alignof(WaitRecord) <= 8, "Callback's wait storage is 8-aligned");
static_assert(std::is_trivially_destructible_v<WaitRecord>, "Callback never destroys its record");

// The friend through which netpoll reaches a Callback's private state.
struct CallbackAccess {
  static WaitRecord& wait(Callback& cb) { return *std::launder(reinterpret_cast<WaitRecord*>(cb.wait_)); }
  static const Interrupt*& intr(Callback& cb) { return cb.intr_; }
  static Interrupt::Enrollment& enrollment(Callback& cb) { return cb.enrollment_; }
};

// Called by a backend, on its worker, when w's wait is over (w->res set):
// readies the goroutine, or withdraws the callback's enrollment and runs it.
void complete(WaitRecord* w);

// The interface every backend implements.  Called only from a goroutine
// running on the worker that owns this backend (the P's poller).
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
  // Whether the backend sends for send_then_read_async (io_uring); if not
  // (epoll), the caller writes the bytes itself, then calls read_async.
  virtual bool sends_before_waits() const;
  // read_async(w) after sending `bytes` (copied: valid only during the
  // call) on w->fd; only if sends_before_waits().  The wait begins once
  // every byte was sent, and its deadline counts from then.  If the send
  // fails, or takes no byte for `stall`, the wait completes with -EPIPE or
  // -ETIMEDOUT instead.
  virtual void send_then_read_async(WaitRecord* w, std::span<const char> bytes, Clock::duration stall);
  // Arms a multishot accept on q->fd whose completions go to
  // accept_completed(q, ...) on this worker (netpoll/src/accept_queue.hpp).
  // False if the backend has none (epoll): Listener then uses accept4 +
  // wait_fd.
  virtual bool arm_accept(AcceptQueue* q);
};

// The calling goroutine's backend, or nullptr on an OS thread (or under a
// runtime started without a netpoll poller).  Good until the next park.
Backend* current_backend() noexcept;

}  // namespace goro::netpoll::detail
