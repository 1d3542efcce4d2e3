/// \file
/// Server counters for /debug/vars.
///
/// Relaxed atomics: each is an independent counter, read only for reporting.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::http {

/// The server's counters since it started; relaxed atomics, updated by
/// every connection, read for /debug/vars and /metrics.
struct Metrics {
  std::atomic<uint64_t> accepted{0};  ///< connections accepted
  std::atomic<uint64_t> rejected{0};  ///< over `--max-conns` or out of descriptors: answered 503
  std::atomic<int64_t> active{0};     ///< connections being served or queued
  std::atomic<uint64_t> requests{0};  ///< whole requests parsed and handed to the router
  /// @{
  /// Responses by status class (count_status()).
  std::atomic<uint64_t> status_2xx{0}, status_3xx{0}, status_4xx{0}, status_5xx{0};
  /// @}
  std::atomic<uint64_t> handler_exceptions{0};  ///< handlers that threw (answered 500)
  std::atomic<uint64_t> timeouts{0};  ///< 408s and idle closes
  /// Writes that carried responses: a pipelined batch's answers go out in
  /// one (requests - response_writes is what batching saved).
  std::atomic<uint64_t> response_writes{0};

  /// Counts one response in its status class.
  void count_status(int status) {
    auto& c = status < 300 ? status_2xx : status < 400 ? status_3xx : status < 500 ? status_4xx : status_5xx;
    c.fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace goro::http
