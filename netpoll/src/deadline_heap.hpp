// A per-P min-heap of pending waits by deadline (internal).
//
// Intrusive and indexed: each WaitRecord remembers its slot, so removing a
// wait that completed before its deadline is O(log n) — the common case, as
// most waits end by I/O, not by timeout.  (A heap searched linearly on
// removal cost O(n) per completion: 10,000 idle connections each with an
// idle deadline made every request walk 10,000 entries.)
//
// Owned by one worker thread; no locking.
#pragma once

#include <cstddef>
#include <vector>

#include "backend.hpp"

namespace goro::netpoll::detail {

class DeadlineHeap {
 public:
  static constexpr size_t kNone = WaitRecord::kNotInHeap;

  bool empty() const { return v_.empty(); }
  WaitRecord* front() const { return v_.front(); }

  void push(WaitRecord* w) {
    w->heap_index = v_.size();
    v_.push_back(w);
    up(w->heap_index);
  }

  // Removes w if it is in the heap; no-op otherwise.
  void remove(WaitRecord* w) {
    size_t i = w->heap_index;
    if (i == kNone) return;
    w->heap_index = kNone;
    WaitRecord* last = v_.back();
    v_.pop_back();
    if (i == v_.size()) return;  // w was the last slot
    v_[i] = last;
    last->heap_index = i;
    if (i > 0 && earlier(last, v_[(i - 1) / 2])) up(i);
    else down(i);
  }

 private:
  static bool earlier(const WaitRecord* a, const WaitRecord* b) { return a->deadline < b->deadline; }
  void place(size_t i, WaitRecord* w) {
    v_[i] = w;
    w->heap_index = i;
  }
  void up(size_t i) {
    WaitRecord* w = v_[i];
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!earlier(w, v_[parent])) break;
      place(i, v_[parent]);
      i = parent;
    }
    place(i, w);
  }
  void down(size_t i) {
    WaitRecord* w = v_[i];
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= v_.size()) break;
      if (c + 1 < v_.size() && earlier(v_[c + 1], v_[c])) ++c;
      if (!earlier(v_[c], w)) break;
      place(i, v_[c]);
      i = c;
    }
    place(i, w);
  }

  std::vector<WaitRecord*> v_;
};

}  // namespace goro::netpoll::detail
