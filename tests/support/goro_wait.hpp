// Waiting on the runtime's observable state (goro::goroutines(), stats())
// from a goroutine or an OS thread.  See wait.hpp for why.
#pragma once

#include <chrono>
#include <string_view>

#include "goro/runtime.hpp"
#include "goro/stats.hpp"
#include "goro/time.hpp"
#include "wait.hpp"

namespace goro::test {

// Checks pred() until it holds, sleeping 100 µs between checks: on the P's
// timer heap in a goroutine (other goroutines on this P run meanwhile), the
// thread otherwise.
template <class Pred>
bool wait_until(Pred&& pred, std::string_view what, std::chrono::nanoseconds limit = kWaitLimit) {
  return poll_until(std::forward<Pred>(pred), [] { goro::sleep_for(std::chrono::microseconds(100)); }, what, limit);
}

// Goroutines parked now with wait reason r.
inline int count_parked(goro::WaitReason r) {
  int n = 0;
  for (const auto& g : goro::goroutines())
    if (g.state == goro::GState::waiting && g.reason == r) ++n;
  return n;
}

// Until at least n goroutines are parked with reason r.
inline bool wait_for_parked(int n, goro::WaitReason r, std::string_view what) {
  return wait_until([&] { return count_parked(r) >= n; }, what);
}

}  // namespace goro::test
