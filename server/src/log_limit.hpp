// At most one log line a second from a place every request may reach while a
// resource is exhausted or a backend is down (otherwise every request logs).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace goro::http {

class EverySecond {
 public:
  // True for the first caller in each wall-clock second; any thread.
  bool due() noexcept {
    std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t last = last_.load(std::memory_order_relaxed);
    return now != last && last_.compare_exchange_strong(last, now, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> last_{0};
};

}  // namespace goro::http
