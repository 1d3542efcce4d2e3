/// \file
/// Go's select over channel sends and receives.
///
/// \code{.cpp}
///   std::optional<int> v;
///   std::string msg = "hi";
///   switch (goro::select(goro::on_recv(in, v), goro::on_send(out, msg))) {
///     case 0: ...  // received: v holds the value, or nullopt if `in` closed
///     case 1: ...  // sent: msg was moved from
///   }
///   if (goro::try_select(goro::on_recv(in, v)) == -1) { /* default */ }
/// \endcode
///
/// Among the ready cases one is chosen uniformly at random (fair), as in Go.
/// A send case on a closed channel throws closed_channel_error.  Works in
/// goroutines and on OS threads.  Cases are cheap structs, no allocation.
#pragma once

#include <array>
#include <optional>

#include "goro/chan.hpp"

namespace goro {

namespace detail {
struct SelectCase {
  ChanCore* c;
  void* elem;  // send: T*; recv: std::optional<T>*
  bool send;
};
// Returns the chosen case, or -1 when !block and none is ready.
int select_impl(SelectCase* cases, int n, bool block);
}  // namespace detail

/// A select case that receives from `ch` into `out`: a value, or nullopt if
/// the channel is closed.  `out` must outlive the select.
template <class T>
detail::SelectCase on_recv(const Chan<T>& ch, std::optional<T>& out) {
  out.reset();
  return {ch.core(), &out, false};
}

/// A select case that sends `value` on `ch`; `value` is moved from only if
/// this case is chosen.  `value` must outlive the select.
template <class T>
detail::SelectCase on_send(const Chan<T>& ch, T& value) {
  return {ch.core(), &value, true};
}

/// Blocks until one case can proceed; returns its index.  No cases: blocks forever.
template <class... Cases>
int select(Cases... cases) {
  std::array<detail::SelectCase, sizeof...(Cases)> cs{cases...};
  return detail::select_impl(cs.data(), static_cast<int>(cs.size()), true);
}

/// Like select with a `default:` — returns -1 at once when no case is ready.
template <class... Cases>
int try_select(Cases... cases) {
  std::array<detail::SelectCase, sizeof...(Cases)> cs{cases...};
  return detail::select_impl(cs.data(), static_cast<int>(cs.size()), false);
}

}  // namespace goro
