// Waiting on a condition instead of sleeping and hoping.
//
// A test that must let the other side get somewhere (a goroutine parks, a
// request reaches its handler, a server prints its port) waits for a
// condition it can observe.  The limit only bounds a failure: it is generous
// (30 s) so that a slow or loaded machine never fails a correct program, and
// hitting it is a test failure that names what never happened.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <string_view>
#include <thread>
#include <utility>

namespace goro::test {

inline constexpr std::chrono::seconds kWaitLimit{30};

// Checks pred() until it holds, calling pause() between checks.  On timeout
// reports a failure naming `what` (FAIL_CHECK: the test goes on, so a caller
// in a goroutine does not throw through the runtime) and returns false.
template <class Pred, class Pause>
bool poll_until(Pred&& pred, Pause&& pause, std::string_view what, std::chrono::nanoseconds limit = kWaitLimit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      FAIL_CHECK("timed out after " << std::chrono::duration<double>(limit).count() << " s waiting for: " << what);
      return false;
    }
    pause();
  }
  return true;
}

// On an OS thread (never in a goroutine: it sleeps the thread).
template <class Pred>
bool thread_wait_until(Pred&& pred, std::string_view what, std::chrono::nanoseconds limit = kWaitLimit) {
  return poll_until(std::forward<Pred>(pred), [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }, what,
                    limit);
}

}  // namespace goro::test
