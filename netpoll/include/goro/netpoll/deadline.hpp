// goro/netpoll/deadline.hpp — absolute deadlines for blocking I/O.
//
// Every blocking operation in goro::netpoll takes an absolute steady-clock
// deadline rather than a relative timeout, so a loop of partial reads or
// writes cannot stretch the total wait (a slowloris client trickling one byte
// per second still hits the header deadline).  Conn::write_all can also
// take a stall limit, measured from the last byte the kernel took: that one
// is meant to restart with progress (a slow reader is not an attacker).
#pragma once

#include <chrono>

namespace goro::netpoll {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline constexpr Deadline kNoDeadline = Deadline::max();

inline Deadline deadline_in(Clock::duration d) {
  return d == Clock::duration::max() ? kNoDeadline : Clock::now() + d;
}

// Milliseconds until d for poll(2): -1 for no deadline, rounded up so a wait
// never ends before the deadline, 0 once it has passed.
int poll_timeout_ms(Deadline d);

}  // namespace goro::netpoll
