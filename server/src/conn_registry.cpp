// The connection registry: see conn_registry.hpp for its invariants.
#include "conn_registry.hpp"

namespace goro::http::detail {

void ConnRegistry::track(netpoll::Conn* c) {
  std::lock_guard lk(mu_);
  set_.insert(c);
  metrics_.active.fetch_add(1, std::memory_order_relaxed);
}

void ConnRegistry::release(std::unique_ptr<netpoll::Conn> c) {
  std::lock_guard lk(mu_);
  set_.erase(c.get());
  c->close();  // under mu_: shutdown_all() may be calling shutdown() on it
  metrics_.active.fetch_sub(1, std::memory_order_relaxed);
  if (set_.empty()) empty_.notify_all();
}

void ConnRegistry::untrack(netpoll::Conn* c) {
  std::lock_guard lk(mu_);
  set_.erase(c);
  metrics_.active.fetch_sub(1, std::memory_order_relaxed);
  if (set_.empty()) empty_.notify_all();
}

size_t ConnRegistry::size() const {
  std::lock_guard lk(mu_);
  return set_.size();
}

bool ConnRegistry::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return empty_.wait_for(lk, timeout, [&] { return set_.empty(); });
}

size_t ConnRegistry::shutdown_all() {
  std::lock_guard lk(mu_);
  for (netpoll::Conn* c : set_) c->shutdown();
  return set_.size();
}

}  // namespace goro::http::detail
