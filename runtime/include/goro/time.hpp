/// \file
/// Sleeping that works the same inside and outside a goroutine.
///
/// Outside a goroutine (thread and pool modes) sleep_for blocks the OS thread.
/// Inside a goroutine it parks the G on its P's timer heap, and the worker
/// runs other goroutines meanwhile (runtime/src/time.cpp).
#pragma once

#include <chrono>

namespace goro {

/// Sleeps for at least d; never returns early.  Any thread may call it.
void sleep_for(std::chrono::nanoseconds d);

/// Sleeps until the steady clock reaches t; returns at once if t has passed.
void sleep_until(std::chrono::steady_clock::time_point t);

}  // namespace goro
