/// \file
/// Go channels: `Chan<T>`, unbuffered or buffered.
///
/// \code{.cpp}
///   goro::Chan<int> ch(16);            // capacity 16; Chan<int>() is unbuffered
///   goro::go([ch] { ch.send(42); ch.close(); });
///   while (auto v = ch.recv()) use(*v);  // nullopt once closed and drained
/// \endcode
///
/// Chan is a handle (like Go's chan): copies share one channel.  Every
/// operation works in a goroutine (parks the G) and on an OS thread (blocks the
/// thread), so goroutines and threads can talk over the same channel.
///
/// Errors: send on a closed channel and closing a closed channel throw
/// goro::closed_channel_error (Go panics); they are programming errors that a
/// server may still want to survive.  Receiving from a closed channel is not an
/// error: it drains the buffer, then returns std::nullopt.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "goro/detail/wait.hpp"

namespace goro {

/// Thrown by a send on a closed channel and by closing a closed channel
/// (where Go panics): a programming error a server may still want to survive.
struct closed_channel_error : std::logic_error {
  using std::logic_error::logic_error;
};

namespace detail {

// The type-erased channel (Go's hchan).  A sudog in sendq/recvq is "live"
// unless it belongs to a select that another case already won (it stays
// queued until that goroutine takes it out; dequeue() skips and drops it).
// Invariants, under `lock`, about live sudogs:
//   - sendq and recvq do not both hold one, with one exception (Go's
//     chan.go states it too): a single select blocked on an unbuffered
//     channel for both sending and receiving (`select(on_send(ch, v),
//     on_recv(ch, x))`) sits in both queues, and each of its sudogs waits
//     for another party.  A plain send or receive that queues itself has
//     just emptied the other queue (its send_locked/recv_locked dequeued
//     every sudog there), and chan.cpp checks that;
//   - count > 0 implies recvq is empty; count < cap implies sendq is empty
//     (a sender only waits on a full buffer, a receiver on an empty one);
//   - once closed, sendq and recvq are empty and stay so.
struct ChanCore {
  explicit ChanCore(std::size_t capacity) noexcept : cap(capacity) {}
  virtual ~ChanCore() = default;
  ChanCore(const ChanCore&) = delete;
  ChanCore& operator=(const ChanCore&) = delete;

  // Element moves, implemented by ChanImpl<T>.  src is T*, dst is optional<T>*.
  virtual void slot_put(std::size_t slot, void* src) = 0;
  virtual void slot_take(std::size_t slot, void* dst) = 0;
  virtual void move_to(void* src, void* dst) = 0;

  // Blocking or not; false: would block.  Throws closed_channel_error.
  bool send(void* src, bool block);
  // Blocking or not; false: would block.  *dst stays empty when closed.
  bool recv(void* dst, bool block);
  void close();
  std::size_t size();

  // Under lock: a ready send/recv, done; false if it would block.
  bool send_locked(void* src, Sudog** wake);
  bool recv_locked(void* dst, Sudog** wake);

  SpinLock lock;
  const std::size_t cap;
  std::size_t count = 0;  // elements buffered
  std::size_t head = 0;   // slot of the oldest element
  bool closed = false;
  WaitQueue recvq;
  WaitQueue sendq;
};

template <class T>
struct ChanImpl final : ChanCore {
  explicit ChanImpl(std::size_t capacity)
      : ChanCore(capacity), buf(capacity ? new std::optional<T>[capacity] : nullptr) {}
  void slot_put(std::size_t slot, void* src) override { buf[slot].emplace(std::move(*static_cast<T*>(src))); }
  void slot_take(std::size_t slot, void* dst) override {
    static_cast<std::optional<T>*>(dst)->emplace(std::move(*buf[slot]));
    buf[slot].reset();
  }
  void move_to(void* src, void* dst) override {
    static_cast<std::optional<T>*>(dst)->emplace(std::move(*static_cast<T*>(src)));
  }
  std::unique_ptr<std::optional<T>[]> buf;
};

}  // namespace detail

/// A channel of T values; a handle: copies share one channel (see chan.hpp).
template <class T>
class Chan {
 public:
  /// Makes a channel holding up to `cap` values; cap == 0: unbuffered (a
  /// send waits for its receiver).
  explicit Chan(std::size_t cap = 0) : impl_(std::make_shared<detail::ChanImpl<T>>(cap)) {}

  /// Blocks until received (unbuffered) or buffered.  Throws
  /// closed_channel_error if the channel is or becomes closed.
  void send(T v) const { impl_->send(&v, true); }
  /// Sends only if that needs no waiting; false (v dropped) otherwise.
  bool try_send(T v) const { return impl_->send(&v, false); }

  /// Blocks until a value arrives; nullopt once closed and drained.
  std::optional<T> recv() const {
    std::optional<T> out;
    impl_->recv(&out, true);
    return out;
  }
  /// Receives only if that needs no waiting.  false: would block.  true:
  /// `out` holds a value, or nullopt when closed.
  bool try_recv(std::optional<T>& out) const {
    out.reset();
    return impl_->recv(&out, false);
  }

  /// Closes the channel.  Wakes every blocked receiver (they get nullopt)
  /// and sender (they throw).
  void close() const { impl_->close(); }

  /// Values buffered now (Go's len(ch)); always 0 when unbuffered.
  std::size_t size() const { return impl_->size(); }
  /// The buffer's size given at construction (Go's cap(ch)).
  std::size_t capacity() const { return impl_->cap; }
  /// The type-erased channel, for select's cases (on_recv, on_send).
  detail::ChanCore* core() const noexcept { return impl_.get(); }
  /// True when both handles share one channel.
  friend bool operator==(const Chan& a, const Chan& b) noexcept { return a.impl_ == b.impl_; }

 private:
  std::shared_ptr<detail::ChanImpl<T>> impl_;
};

}  // namespace goro
