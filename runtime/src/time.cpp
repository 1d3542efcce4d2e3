// time.cpp — sleeping inside and outside goroutines.
//
// In a goroutine, sleep_until parks the G on its P's timer heap (sched.cpp):
// the push happens in park's unlock step, on the worker that owns the heap,
// once the G's context is saved.  The P's scheduler readies it when the
// deadline has passed (never before: it compares against the steady clock)
// and sleeps in poll() no longer than until the earliest deadline.
#include "goro/time.hpp"

#include <thread>

#include "internal.hpp"

namespace goro {
namespace detail {
void timer_add(std::int64_t when, G* g);  // sched.cpp
}

void sleep_for(std::chrono::nanoseconds d) {
  if (d <= d.zero()) return;
  sleep_until(std::chrono::steady_clock::now() + d);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  if (!in_goroutine()) {
    // std::this_thread::sleep_until loops on EINTR and uses the steady clock.
    std::this_thread::sleep_until(t);
    return;
  }
  if (t <= std::chrono::steady_clock::now()) return;
  std::int64_t when = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  park(WaitReason::sleep, [](G* g, void* arg) {
    detail::timer_add(*static_cast<std::int64_t*>(arg), g);
    return true;
  }, &when);
}

}  // namespace goro
