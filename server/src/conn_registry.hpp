// Every connection being served or queued, so that shutdown can reach it
// (internal to goro::http).
//
// Invariants (all guarded by mu_):
//   * a Conn is in set_ from track() (by the accept loop, before an executor
//     sees it) until release()/untrack(); it is open for as long as it is in
//     the set, so shutdown_all() may shutdown(2) any member;
//   * Metrics::active equals set_.size() (changed only under mu_; read
//     lock-free, relaxed, by the accept loop for --max-conns);
//   * empty_ is notified whenever set_ becomes empty.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "goro/http/metrics.hpp"
#include "goro/netpoll/conn.hpp"

namespace goro::http::detail {

class ConnRegistry {
 public:
  explicit ConnRegistry(Metrics& metrics) : metrics_(metrics) {}

  void track(netpoll::Conn* c);
  // Untracks and closes c (the close happens under the lock: shutdown_all
  // may be calling shutdown() on it).  Any thread, any mode.
  void release(std::unique_ptr<netpoll::Conn> c);
  // Untracks c without closing it: for a connection handed elsewhere
  // (thread mode rejecting what it could not start).
  void untrack(netpoll::Conn* c);

  size_t size() const;
  // Waits (blocking the OS thread: never on a goroutine worker) until the
  // set is empty or `timeout` passes.  True if empty.
  bool wait_empty(std::chrono::milliseconds timeout);
  // shutdown(2)s every tracked connection, waking whoever serves it.
  // Returns how many there were.
  size_t shutdown_all();

 private:
  Metrics& metrics_;
  mutable std::mutex mu_;
  std::condition_variable empty_;
  std::unordered_set<netpoll::Conn*> set_;
};

}  // namespace goro::http::detail
