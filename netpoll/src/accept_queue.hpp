// A listener's multishot accept queue (internal): shared by listener.cpp,
// which owns it, and the io_uring backend, which fills it.
#pragma once

#include <deque>

#include "backend.hpp"
#include "spin_lock.hpp"

namespace goro::netpoll::detail {

// A listener's multishot accept (Listener::accept, netpoll/src/listener.cpp):
// the P whose ring holds the ACCEPT queues each connection here, for
// whichever goroutine accepts next, wherever it runs.
struct AcceptQueue {
  explicit AcceptQueue(int listen_fd) : fd(listen_fd) { wait.accept = this; }
  int fd;
  WaitRecord wait;  // the ACCEPT's user_data
  SpinLock lock;  // guards everything below; never held across a park
                  // (listener.cpp's wait_in_queue releases it in park's unlock)
  std::deque<int> fds;   // accepted, not yet taken
  int error = 0;         // what ended the multishot, until accept() reports it
  bool armed = false;    // an ACCEPT is in some ring: its last CQE still comes
  bool orphaned = false; // the Listener closed meanwhile: the last CQE frees this
  goro::G* waiter = nullptr;
};

// Called by the backend for each of q's completions (res: a descriptor or
// -errno; more: IORING_CQE_F_MORE, the ACCEPT stays armed).
void accept_completed(AcceptQueue* q, int res, bool more);
// The ring holding q's ACCEPT is gone (the runtime stopped): no completion
// will come.  Frees q if its Listener already closed.
void accept_disarmed(AcceptQueue* q);

}  // namespace goro::netpoll::detail
