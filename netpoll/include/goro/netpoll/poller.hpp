/// \file
/// The netpoller (what parks a goroutine on I/O):
/// choosing a backend, installing it in goro::run, its counters.
///
/// Every backend implements goro::Poller (the runtime's interface: poll(timeout)
/// and wake()) plus the one parking operation netpoll needs, wait_fd(): "park
/// this goroutine until fd is readable/writable or the deadline passes".
/// Conn, Listener and File try the non-blocking syscall first and call
/// wait_fd() only on EAGAIN — Go's netpoll contract (pollDesc.wait) — so a
/// read whose bytes are already there costs one syscall and no park.  The
/// backend interface itself (Backend, WaitRecord) is internal:
/// netpoll/src/backend.hpp.  This header is what a program needs to choose a
/// backend, install it in goro::run, and read its counters.
///
/// Backends (one instance per P, created on its worker thread):
/// - **uring** — an io_uring ring (SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN
///   where the kernel has them); waits are POLL_ADD SQEs submitted in
///   a batch when the worker next polls, deadlines a per-P heap that
///   cancels what expires; file reads are IORING_OP_READ.  An idle
///   connection's wait (Conn::when_readable) is a RECV that takes a
///   buffer from the P's provided-buffer ring only when bytes arrive,
///   so the wake-up brings the request with it (no recv syscall) and
///   an idle connection still pins no buffer.  Listeners accept
///   through one multishot ACCEPT.
/// - **epoll** — an epoll instance; waits are EPOLLONESHOT registrations and a
///   per-P deadline heap.  Used where io_uring is unavailable (Docker's
///   default seccomp profile, kernel.io_uring_disabled, old kernels).
///
/// \code{.cpp}
///   auto choice = goro::netpoll::choose_poller(goro::netpoll::PollerKind::automatic);
///   goro::run(main_fn, {.poller = goro::netpoll::poller_factory(choice.kind)});
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "goro/netpoll/poller_kind.hpp"
#include "goro/runtime.hpp"

namespace goro::netpoll {

/// The backend to run, decided once at start (choose_poller).
struct PollerChoice {
  /// uring or epoll, never automatic.  With requested == uring it is uring
  /// even when !uring_ok(): the caller decides what to do (the server refuses
  /// to start).
  PollerKind kind;
  /// Why io_uring is not used (`io_uring_setup: Operation not permitted`,
  /// `--poller=epoll`); empty when it is.
  std::string why_not;
  /// One line for a start-up log: `io_uring (SINGLE_ISSUER|...)`,
  /// `epoll (io_uring unavailable: ...)`, `epoll (--poller=epoll)`.
  std::string detail;
  /// io_uring was probed and its setup succeeded (false when it failed, and
  /// when epoll was requested: nothing probed).
  bool uring_ok() const { return why_not.empty(); }
};
/// Decides the backend.  `automatic` probes io_uring
/// once (on the calling thread; each worker makes its own ring later) and
/// falls back to epoll; an explicit kind is honoured if it works at all.
PollerChoice choose_poller(PollerKind requested);

/// One backend instance for the calling worker thread, or nullptr with the
/// reason in *detail.  Tests wrap it to inject faults (see netpoll_test.cpp).
std::unique_ptr<goro::Poller> make_poller(PollerKind kind, std::string* detail);

/// For goro::Options::poller: makes the chosen backend on each worker.
std::function<std::unique_ptr<goro::Poller>(int worker)> poller_factory(PollerKind kind);

/// Counters summed over every poller (relaxed; for /metrics and /debug/vars).
struct PollerStats {
  uint64_t submissions = 0;  ///< SQEs submitted / fds armed
  uint64_t completions = 0;  ///< CQEs reaped / events delivered
  uint64_t parks = 0;        ///< goroutines parked in wait_fd
  uint64_t timeouts = 0;     ///< waits ended by their deadline
  uint64_t wakes = 0;        ///< wake() calls that had to signal
  uint64_t recv_buffered = 0;  ///< idle waits that arrived with their bytes (uring)
  uint64_t recv_nobufs = 0;    ///< idle waits that found the buffer ring empty: a plain recv follows
  uint64_t accepts_multishot = 0;  ///< connections a multishot accept delivered (uring)
  uint64_t ring_sends = 0;  ///< socket writes sent through the ring instead of sendmsg(2) (uring)
};
/// The counters now, summed over every poller since the process started.
PollerStats poller_stats();

}  // namespace goro::netpoll
