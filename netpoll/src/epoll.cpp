// The epoll backend, for kernels or sandboxes without io_uring.
//
// A parked wait registers fd with EPOLLONESHOT and its WaitRecord (on the
// parked goroutine's stack, or in a Callback) as its data; a deadline goes on
// this P's DeadlineHeap.  The worker's poll() takes events and expired
// deadlines, in that order, so a waiter completes exactly once: an event
// removes it from the heap, and an expired deadline deregisters the fd before
// the next epoll_wait.
//
// Owned by one worker thread: only it touches the heap and readies waiters.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend_impl.hpp"
#include "deadline_heap.hpp"
#include "stats.hpp"

namespace goro::netpoll::detail {

namespace {

// Events taken per epoll_wait: each may ready or spawn a goroutine, and the
// P's run queue holds 256 before it spills into the global queue (see
// kMaxReap in uring.cpp).
constexpr int kMaxEvents = 64;

using Waiter = WaitRecord;

class EpollPoller final : public Backend {
 public:
  EpollPoller(int ep, int wake_fd) : ep_(ep), wake_fd_(wake_fd) {}
  ~EpollPoller() override {
    ::close(ep_);
    ::close(wake_fd_);
  }

  int poll(std::chrono::nanoseconds timeout) override {
    if (!deadlines_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadlines_.front()->deadline - Clock::now());
      if (left.count() < 0) left = std::chrono::nanoseconds(0);
      timeout = timeout.count() < 0 ? left : std::min(timeout, left);
    }
    epoll_event evs[kMaxEvents];
    int n = wait(evs, timeout);
    if (n < 0) n = 0;  // EINTR
    int readied = 0;
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.ptr == nullptr) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
        continue;
      }
      auto* w = static_cast<Waiter*>(evs[i].data.ptr);
      deadlines_.remove(w);
      w->res = 0;
      complete(w);
      ++readied;
    }
    bump(counters().completions, static_cast<uint64_t>(n));
    auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.front()->deadline <= now) {
      Waiter* w = deadlines_.front();
      deadlines_.remove(w);
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, w->fd, nullptr);
      w->res = -ETIMEDOUT;
      bump(counters().timeouts);
      complete(w);
      ++readied;
    }
    return readied;
  }

  void wake() override { signal_eventfd(wake_fd_); }

  int wait_fd(int fd, short events, Deadline d) override {
    Waiter w = goroutine_wait(fd, d);
    if (int r = arm(&w, events); r < 0) return r;
    bump(counters().parks);
    goro::park(goro::WaitReason::io_wait);
    return w.res;
  }

  void wait_fd_async(WaitRecord* w, short events) override {
    if (int r = arm(w, events); r < 0) {
      w->res = r;
      complete(w);
    }
  }

  // Regular files are always "ready" to epoll; the read itself may block the
  // worker on a page-cache miss (io_uring avoids that).
  ssize_t pread(int fd, void* buf, size_t len, uint64_t offset) override {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    return n < 0 ? -errno : n;
  }

 private:
  // Waits up to t (< 0: no limit).  epoll_wait counts whole milliseconds,
  // so the P's next timer, due in 20 µs, cost a sleep of a whole ms
  // (rounded up), and with 5,000 sleepers on one P (one due every 20 µs)
  // every timer ran up to a ms late, in batches.  epoll_pwait2 (Linux 5.11)
  // takes the timeout in ns; epoll_wait stays for kernels without it.
  int wait(epoll_event* evs, std::chrono::nanoseconds t) {
    if (pwait2_) {
      timespec ts{static_cast<time_t>(t.count() / 1'000'000'000), static_cast<long>(t.count() % 1'000'000'000)};
      int n = ::epoll_pwait2(ep_, evs, kMaxEvents, t.count() < 0 ? nullptr : &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      pwait2_ = false;
    }
    int ms = t.count() < 0 ? -1
                           : static_cast<int>(std::min<long long>(
                                 std::chrono::ceil<std::chrono::milliseconds>(t).count(), INT_MAX));
    return ::epoll_wait(ep_, evs, kMaxEvents, ms);
  }

  // Registers w's fd (EPOLLONESHOT) and its deadline.  0 or -errno.
  int arm(Waiter* w, short events) {
    epoll_event ev{};
    ev.events = static_cast<uint32_t>(events) | EPOLLONESHOT;
    ev.data.ptr = w;
    // MOD first: a connection waits again and again on the same P.
    if (::epoll_ctl(ep_, EPOLL_CTL_MOD, w->fd, &ev) < 0) {
      if (errno != ENOENT || ::epoll_ctl(ep_, EPOLL_CTL_ADD, w->fd, &ev) < 0) return -errno;
    }
    bump(counters().submissions);
    if (w->deadline != kNoDeadline) deadlines_.push(w);
    return 0;
  }

  int ep_;
  int wake_fd_;
  bool pwait2_ = true;  // until the kernel says ENOSYS
  DeadlineHeap deadlines_;
};

}  // namespace

std::unique_ptr<goro::Poller> make_epoll_poller(std::string* detail) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    if (detail) *detail = std::string("epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  int wfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (wfd < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) < 0) {
    if (detail) *detail = std::string("eventfd: ") + std::strerror(errno);
    ::close(ep);
    return nullptr;
  }
  if (detail) *detail = "epoll";
  return std::make_unique<EpollPoller>(ep, wfd);
}

}  // namespace goro::netpoll::detail
