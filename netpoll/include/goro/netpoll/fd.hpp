/// \file
/// Waiting on a descriptor that someone else owns.
///
/// Conn and Listener own their sockets.  A library with its own socket — a
/// database client such as libpq in non-blocking mode — needs only the wait:
/// it tries its read or write itself and, when that would block, asks for
/// the descriptor to become ready.  wait_fd is that wait, and it is the same
/// one Conn uses: in a goroutine it parks the goroutine on its P's netpoll
/// backend (io_uring or epoll), so the worker serves others meanwhile; on an
/// OS thread (thread and pool modes) it blocks the thread in poll(2).  Either
/// way the deadline bounds it.
///
/// \code{.cpp}
///   while (PQflush(pg) == 1)
///     if (int r = goro::netpoll::wait_fd(PQsocket(pg), POLLOUT | POLLIN, d); r < 0) return r;
/// \endcode
///
/// Call it only after the descriptor said EAGAIN (or its library said "would
/// block"): like Go's netpoll, a wait is armed for an edge the caller has seen.
#pragma once

#include "goro/netpoll/deadline.hpp"

namespace goro::netpoll {

class Interrupt;

/// Waits until fd reports one of `events` (POLLIN, POLLOUT; an error or a
/// hang-up counts as ready: the next syscall reports it), the deadline passes
/// (-ETIMEDOUT) or `intr` fires (-ECANCELED).  0 when ready, else -errno.
/// The caller keeps fd open until it returns.
int wait_fd(int fd, short events, Deadline d, const Interrupt* intr = nullptr);

}  // namespace goro::netpoll
