/// \file
/// Absolute deadlines for blocking I/O.
///
/// Every blocking operation in goro::netpoll takes an absolute steady-clock
/// deadline rather than a relative timeout, so a loop of partial reads or
/// writes cannot stretch the total wait (a slowloris client trickling one byte
/// per second still hits the header deadline).  Conn::write_all can also
/// take a stall limit, measured from the last byte the kernel took: that one
/// is meant to restart with progress (a slow reader is not an attacker).
#pragma once

#include <chrono>

namespace goro::netpoll {

/// The clock every deadline is on: monotonic, unaffected by wall-clock changes.
using Clock = std::chrono::steady_clock;
/// An absolute point on Clock by which a blocking call returns.
using Deadline = Clock::time_point;

/// Waits without a deadline.
inline constexpr Deadline kNoDeadline = Deadline::max();

/// The deadline `d` from now; Clock::duration::max() gives kNoDeadline.
inline Deadline deadline_in(Clock::duration d) {
  return d == Clock::duration::max() ? kNoDeadline : Clock::now() + d;
}

/// Milliseconds until d for poll(2): -1 for no deadline, rounded up so a wait
/// never ends before the deadline, 0 once it has passed.
int poll_timeout_ms(Deadline d);

}  // namespace goro::netpoll
