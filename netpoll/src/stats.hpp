// Process-wide poller counters (internal).  Relaxed atomics: each worker adds
// its own events; readers only report them.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::netpoll::detail {

struct Counters {
  std::atomic<uint64_t> submissions{0}, completions{0}, parks{0}, timeouts{0}, wakes{0};
  std::atomic<uint64_t> recv_buffered{0}, recv_nobufs{0}, accepts_multishot{0}, ring_sends{0};
};
Counters& counters();

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace goro::netpoll::detail
