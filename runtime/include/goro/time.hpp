// goro/time.hpp — sleeping that works the same inside and outside a goroutine.
//
// Outside a goroutine (thread and pool modes) sleep_for blocks the OS thread.
// Inside a goroutine it will park the G on its P's timer heap (runtime issue).
#pragma once

#include <chrono>

namespace goro {

// Sleeps for at least d; never returns early.  Any thread may call it.
void sleep_for(std::chrono::nanoseconds d);

// Sleeps until the steady clock reaches t; returns at once if t has passed.
void sleep_until(std::chrono::steady_clock::time_point t);

}  // namespace goro
