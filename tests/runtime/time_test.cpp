#include <doctest/doctest.h>

#include <chrono>

#include "goro/time.hpp"

using namespace std::chrono_literals;

TEST_CASE("sleep_for on an OS thread never returns early") {
  for (auto d : {0ms, 1ms, 5ms, 20ms}) {
    auto start = std::chrono::steady_clock::now();
    goro::sleep_for(d);
    CHECK(std::chrono::steady_clock::now() - start >= d);
  }
}

TEST_CASE("sleep_until a past time returns at once") {
  auto start = std::chrono::steady_clock::now();
  goro::sleep_until(start - 1s);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
}
