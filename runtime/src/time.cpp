#include "goro/time.hpp"

#include <thread>

namespace goro {

void sleep_for(std::chrono::nanoseconds d) {
  if (d <= d.zero()) return;
  sleep_until(std::chrono::steady_clock::now() + d);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  // std::this_thread::sleep_until loops on EINTR and uses the steady clock.
  std::this_thread::sleep_until(t);
}

}  // namespace goro
