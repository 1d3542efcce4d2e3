// The io_uring backend: one ring per P, created on (and only ever entered
// from) its worker thread.
//
// A parked wait is a POLL_ADD SQE whose user_data is its WaitRecord (on the
// parked goroutine's stack, or in a Callback).  A deadline goes on this P's
// DeadlineHeap, not on a linked timeout: most waits end by I/O, and a
// LINK_TIMEOUT per wait cost an hrtimer, an extra SQE and an extra CQE per
// request (about 10% of hello throughput).  When poll() finds a deadline
// passed it sends IORING_OP_ASYNC_CANCEL for that wait, whose CQE then
// reports -ECANCELED, mapped to -ETIMEDOUT.  SQEs are only queued by the
// goroutine; the worker submits them in one io_uring_enter when it next polls
// — after the goroutine's context is saved, which is what makes the CQE's
// ready() safe.  The runtime polls at least every 61st schedule, so a busy P
// still submits.
//
// An idle connection's wait (read_async, behind Conn::when_readable) is not
// a POLL_ADD but a RECV with IOSQE_BUFFER_SELECT: the kernel takes a buffer
// from this P's provided-buffer ring only when bytes arrive, so the CQE
// brings the request (one syscall fewer per request than POLL_ADD + recv)
// and an idle connection pins no buffer.  The callback copies what it keeps
// and the buffer goes back to the ring at once, on this worker (the ring's
// only producer).  When the ring is empty (more connections woke in one
// poll than it has buffers) the RECV fails with -ENOBUFS; that is reported
// as plain readiness and the session reads with recv(2).  Kernels without
// buffer rings (< 5.19) get POLL_ADD for these waits too.
//
// A connection going idle with answers still to send (Conn::when_readable
// with `unsent`) queues them as a SEND linked (IOSQE_IO_LINK) before its
// idle RECV, so the answers of a whole round of goroutines and their next
// waits go out in one io_uring_enter, where a sendmsg(2) each cost a
// syscall (~2 µs on a paravirtualised guest: a sixth of a hello request).
// The SEND is MSG_WAITALL, so a short send is continued by the kernel, and
// the RECV starts only once every byte is sent: answers never overtake
// each other, and the bytes (a copy, in a LinkedSend) are freed when the
// SEND's CQE is reaped.  The SEND's own record carries the --write-timeout
// stall deadline on the heap; the wait's deadline is filed only when the
// SEND completes.  A SEND that fails breaks the link: the RECV then
// completes -ECANCELED, reported as -EPIPE (or -ETIMEDOUT).  A SEND that
// stops short without an error on the socket (io_uring can end one with a
// short count, or -EAGAIN when it was punted to its workers, which send on
// the non-blocking socket without waiting) is queued again with the RECV
// behind it, once that RECV's cancellation is in, polling for room first.
//
// Listener::accept arms one multishot ACCEPT per listener (on the ring of
// the P where it first waits); each CQE is a connection, queued in the
// listener's AcceptQueue for whichever goroutine accepts next.
//
// Ordering contracts:
//   * a WaitRecord may be freed (its goroutine resumed, its Callback run)
//     once its own CQE is reaped; it leaves the heap then;
//   * a cancel's CQE carries kIgnore and never touches the record.
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#if defined(__SANITIZE_THREAD__) || defined(GORO_SANITIZE_THREAD)
#include <sanitizer/tsan_interface.h>
#endif

#include "accept_queue.hpp"
#include "backend_impl.hpp"
#include "deadline_heap.hpp"
#include "stats.hpp"

namespace goro::netpoll::detail {

namespace {

// SQ entries per ring.  Waits are submitted in batches at each poll; 1024
// covers a scheduling round of 1000 connections without an early flush, and
// costs ~100 KiB per P for the SQ and CQ rings.
constexpr unsigned kRingEntries = 1024;

// Completions taken per poll.  Each may ready or spawn a goroutine; taking
// all of a burst (hundreds) overflowed the P's 256-slot run queue into the
// global queue, which a busy P drains one G per 61 schedules — p99 of
// 150-330 ms for hello at 500 connections on one P.  With 64: p99 12 ms;
// with 128: 49 ms (Go's netpoll takes at most 128 events per epoll_wait).
constexpr unsigned kMaxReap = 64;

// The provided-buffer ring: kBufCount buffers of kBufSize per P (512 KiB of
// address space, touched as used).  4 KiB holds any ordinary request; a
// longer one reads the rest with recv(2).  128 buffers cover two full reaps;
// a burst beyond that costs a recv(2) each, not an error.
constexpr unsigned kBufCount = 128;  // a power of two (the ring's mask)
constexpr unsigned kBufSize = 4096;
constexpr unsigned short kBufGroup = 0;

constexpr uint64_t kIgnore = 0;  // cancel requests: their CQE means nothing
constexpr uint64_t kWake = 1;    // the eventfd read that wake() completes
// A LinkedSend's user_data: its address (8-aligned) with this in the low bits.
constexpr uint64_t kSendTag = 2;
constexpr uint64_t kTagMask = 7;

// A send linked before a wait (send_then_read_async), with a copy of its
// bytes after it.  Owned by the poller from arming until its CQE is reaped.
struct LinkedSend {
  WaitRecord rec;     // rec.send; on the deadline heap with the stall limit
  WaitRecord* wait;   // the wait linked after it
  Clock::duration stall;  // --write-timeout: how long the send may take no byte
  size_t len;
  size_t sent = 0;     // by earlier SENDs that stopped short
  bool resend = false;  // stopped short: queue the rest when wait's CQE is in
  LinkedSend* prev;   // the poller's list of sends in flight (freed with it)
  LinkedSend* next;
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
};

// The user_data that names w's SQE (what a cancel must quote).
uint64_t key(const WaitRecord* w) {
  return reinterpret_cast<uintptr_t>(w) | (w->send ? kSendTag : 0);
}

// A POLL_ADD's result as wait_fd reports it: the event mask means ready; a
// poll we cancelled because its deadline passed is the deadline.
int poll_result(const WaitRecord* w, int res) {
  if (res == -ECANCELED && w->expired) {
    bump(counters().timeouts);
    return -ETIMEDOUT;
  }
  if (res == -ECANCELED && w->send_failed) return -EPIPE;
  return res < 0 ? res : 0;
}

// ThreadSanitizer does not see liburing map and unmap a ring (raw syscalls),
// so a new ring that the kernel places where an earlier, destroyed ring was
// inherits that ring's access history: TSan then reports the new owner's SQE
// writes as racing with the old owner's, though ring_destroyed() (before
// io_uring_queue_exit) happens before ring_created() (after a successful
// io_uring_queue_init) on whatever threads.  These two calls tell TSan so.
// Nothing else is ordered by them, so a real race between two users of one
// live ring is still reported.  No code in other builds.
#if defined(__SANITIZE_THREAD__) || defined(GORO_SANITIZE_THREAD)
char ring_lifetimes;  // only its address is used
void ring_created() { __tsan_acquire(&ring_lifetimes); }
void ring_destroyed() { __tsan_release(&ring_lifetimes); }
#else
void ring_created() {}
void ring_destroyed() {}
#endif

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "goro: io_uring %s: %s\n", what, std::strerror(-err));
  std::abort();
}

class UringPoller final : public Backend {
 public:
  explicit UringPoller(io_uring ring) : ring_(ring) {
    ring_created();
    // Blocking: io_uring answers a read on an O_NONBLOCK fd with -EAGAIN
    // instead of waiting for it.
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) die("eventfd", -errno);
    arm_wake();
  }
  ~UringPoller() override {
    ring_destroyed();
    io_uring_queue_exit(&ring_);
    while (sends_) release(sends_);
    // ACCEPTs still armed will never complete now.
    for (AcceptQueue* q : accepts_) accept_disarmed(q);
    ::close(wake_fd_);
    if (bufs_) ::munmap(bufs_, kBufCount * kBufSize);
    if (br_) ::munmap(br_, kBufCount * sizeof(io_uring_buf));
  }

  // Registers the provided-buffer ring (liburing 2.3 has no
  // io_uring_setup_buf_ring, so by hand).  False, with the reason, if the
  // kernel has none; read_async then uses POLL_ADD.
  bool setup_buffers(std::string* why) {
    void* ring = ::mmap(nullptr, kBufCount * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* bufs = ::mmap(nullptr, kBufCount * kBufSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED || bufs == MAP_FAILED) {
      if (ring != MAP_FAILED) ::munmap(ring, kBufCount * sizeof(io_uring_buf));
      if (bufs != MAP_FAILED) ::munmap(bufs, kBufCount * kBufSize);
      *why = "mmap failed";
      return false;
    }
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(ring);
    reg.ring_entries = kBufCount;
    reg.bgid = kBufGroup;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) {
      ::munmap(ring, kBufCount * sizeof(io_uring_buf));
      ::munmap(bufs, kBufCount * kBufSize);
      *why = std::string("no provided buffers: ") + std::strerror(-r);
      return false;
    }
    br_ = static_cast<io_uring_buf_ring*>(ring);
    bufs_ = static_cast<char*>(bufs);
    io_uring_buf_ring_init(br_);
    for (unsigned i = 0; i < kBufCount; i++)
      io_uring_buf_ring_add(br_, bufs_ + i * kBufSize, kBufSize, static_cast<unsigned short>(i),
                            io_uring_buf_ring_mask(kBufCount), static_cast<int>(i));
    io_uring_buf_ring_advance(br_, kBufCount);
    *why = "provided buffers";
    return true;
  }

  int poll(std::chrono::nanoseconds timeout) override {
    io_uring_cqe* cqe = nullptr;
    timeout = until_deadline(timeout);
    unsigned queued = io_uring_sq_ready(&ring_);
    if (timeout.count() == 0 && queued == 0 && nothing_pending()) {
      // A look that would find nothing: no syscall.  An idle P looks over
      // and over (find_runnable, its spin), and with 2 Ps under load those
      // empty io_uring_enter calls outnumbered the requests.
      expire_deadlines();
      return 0;
    }
    int r;
    if (timeout.count() == 0) {
      r = io_uring_submit_and_get_events(&ring_);
    } else if (timeout.count() < 0) {
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
      __kernel_timespec ts{timeout.count() / 1'000'000'000, timeout.count() % 1'000'000'000};
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) die("submit", r);
    bump(counters().submissions, queued - io_uring_sq_ready(&ring_));
    int readied = reap();
    expire_deadlines();
    return readied;
  }

  void wake() override { signal_eventfd(wake_fd_); }

  int wait_fd(int fd, short events, Deadline d) override {
    WaitRecord w = goroutine_wait(fd, d);
    submit_poll(&w, events);
    bump(counters().parks);
    goro::park(goro::WaitReason::io_wait);
    return poll_result(&w, w.res);
  }

  void wait_fd_async(WaitRecord* w, short events) override { submit_poll(w, events); }

  bool arm_accept(AcceptQueue* q) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, q->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(&q->wait));
    accepts_.push_back(q);
    return true;
  }

  void read_async(WaitRecord* w) override {
    prep_read(get_sqe(), w);
    if (w->deadline != kNoDeadline) deadlines_.push(w);
  }

  // Only with the buffer ring, which says the kernel is 5.19 or later: before
  // 5.18 a SEND ignored MSG_WAITALL, so a short one counted as done and the
  // RECV linked behind it ran with the rest of the answers unsent.
  bool sends_before_waits() const override { return br_ != nullptr; }

  void send_then_read_async(WaitRecord* w, std::span<const char> bytes, Clock::duration stall) override {
    auto* s = static_cast<LinkedSend*>(std::malloc(sizeof(LinkedSend) + bytes.size()));
    if (!s) {
      // Not even the copy: the connection closes (as any allocation
      // failure serving it would).
      w->res = -ENOMEM;
      return complete(w);
    }
    ::new (s) LinkedSend{};
    s->rec.send = true;
    s->rec.fd = w->fd;
    s->wait = w;
    s->stall = stall;
    s->len = bytes.size();
    std::memcpy(s->bytes(), bytes.data(), bytes.size());
    s->next = sends_;
    if (sends_) sends_->prev = s;
    sends_ = s;
    queue_linked(s, deadline_in(stall), false);
    bump(counters().ring_sends);
  }

  ssize_t pread(int fd, void* buf, size_t len, uint64_t offset) override {
    WaitRecord w;
    w.g = goro::current_g();
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(std::min<size_t>(len, 1u << 30)), offset);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(&w));
    bump(counters().parks);
    goro::park(goro::WaitReason::io_wait);
    return w.res;
  }

 private:
  // A free SQE, flushing the queue first if it is full.
  io_uring_sqe* get_sqe() {
    if (io_uring_sq_space_left(&ring_) == 0) flush_sq();
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) die("get_sqe", -EBUSY);
    return sqe;
  }

  // Submits what is queued now, before the next poll.
  void flush_sq() {
    unsigned queued = io_uring_sq_ready(&ring_);
    int r = io_uring_submit(&ring_);
    if (r < 0) die("submit", r);
    bump(counters().submissions, queued - io_uring_sq_ready(&ring_));
  }

  // Makes sqe read_async's wait for w: a RECV into the buffer ring, or a
  // POLL_ADD without one.  Files no deadline.
  void prep_read(io_uring_sqe* sqe, WaitRecord* w) {
    if (br_) {
      w->buffered = true;
      io_uring_prep_recv(sqe, w->fd, nullptr, kBufSize, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = kBufGroup;
    } else {
      io_uring_prep_poll_add(sqe, w->fd, POLLIN);
    }
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(w));
  }

  // Queues what s has not sent as a SEND linked before its wait's RECV (or
  // POLL_ADD), the SEND's stall deadline `d` on the heap; the wait's own
  // deadline is filed when the SEND is done (complete_send).  poll_first:
  // wait for room before trying (a retry after the kernel gave up).
  void queue_linked(LinkedSend* s, Deadline d, bool poll_first) {
    // The two SQEs must go in one submission for the link to hold.
    if (io_uring_sq_space_left(&ring_) < 2) flush_sq();
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, s->rec.fd, s->bytes() + s->sent, s->len - s->sent, MSG_NOSIGNAL | MSG_WAITALL);
    if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, key(&s->rec));
    s->rec.expired = false;
    s->rec.deadline = d;
    if (d != kNoDeadline) deadlines_.push(&s->rec);
    prep_read(get_sqe(), s->wait);
  }

  // A linked send ended: all sent (the wait starts now: file its
  // deadline), or not (the wait's CQE, -ECANCELED, follows and says why, or
  // brings the retry: see resend).
  void complete_send(LinkedSend* s, int res) {
    deadlines_.remove(&s->rec);
    WaitRecord* w = s->wait;
    size_t took = res > 0 ? static_cast<size_t>(res) : 0;
    if (s->sent + took == s->len) {
      if (w->deadline != kNoDeadline) deadlines_.push(w);
      return release(s);
    }
    w->send_failed = true;
    if (!s->rec.expired && (res >= 0 || res == -EAGAIN)) {
      // Short with no error on the socket: the kernel gave up, not the
      // peer.  The stall clock restarts only if bytes went out.
      s->sent += took;
      if (took > 0) s->rec.deadline = deadline_in(s->stall);
      s->resend = true;
      return;
    }
    w->expired = s->rec.expired;
    release(s);
  }

  // w's wait was cancelled because the send linked before it stopped
  // short: if that send is to go on, queue the rest and the wait again
  // (true: w stays armed).  Rare, so the list of sends in flight is walked.
  bool resend(WaitRecord* w, const io_uring_cqe* cqe) {
    for (LinkedSend* s = sends_; s; s = s->next) {
      if (s->wait != w || !s->resend) continue;
      if (cqe->res != -ECANCELED || (cqe->flags & IORING_CQE_F_BUFFER)) {
        release(s);  // not the cancellation the link promised: report it
        return false;
      }
      s->resend = false;
      w->send_failed = false;
      queue_linked(s, s->rec.deadline, true);
      return true;
    }
    return false;
  }

  void release(LinkedSend* s) {
    (s->prev ? s->prev->next : sends_) = s->next;
    if (s->next) s->next->prev = s->prev;
    s->~LinkedSend();
    std::free(s);
  }

  // True when entering the ring could reap nothing: no CQE is waiting, no
  // task work is (IORING_SQ_TASKRUN: with DEFER_TASKRUN and COOP_TASKRUN a
  // completion is task work until this thread enters the ring, and
  // TASKRUN_FLAG makes the kernel say so) and none overflowed.  A ring
  // created without TASKRUN_FLAG cannot tell, so it always enters.
  bool nothing_pending() const {
    if (!(ring_.flags & IORING_SETUP_TASKRUN_FLAG) || io_uring_cq_ready(&ring_) > 0) return false;
    return !(IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
  }

  // Queues POLL_ADD for w (submitted at the next poll) and files its deadline.
  void submit_poll(WaitRecord* w, short events) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, w->fd, static_cast<unsigned>(events));
    track(sqe, w);
  }

  // Makes sqe's completion w's, and files w's deadline.
  void track(io_uring_sqe* sqe, WaitRecord* w) {
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(w));
    if (w->deadline != kNoDeadline) deadlines_.push(w);
  }

  // The poll timeout, shortened to the nearest deadline.
  std::chrono::nanoseconds until_deadline(std::chrono::nanoseconds t) const {
    if (deadlines_.empty()) return t;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadlines_.front()->deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    return t.count() < 0 ? left : std::min(t, left);
  }

  // Cancels every wait whose deadline has passed; their CQEs (-ECANCELED)
  // arrive at the next poll and report -ETIMEDOUT.
  void expire_deadlines() {
    if (deadlines_.empty() || deadlines_.front()->deadline > Clock::now()) return;
    auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.front()->deadline <= now) {
      WaitRecord* w = deadlines_.front();
      deadlines_.remove(w);
      w->expired = true;
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, key(w), 0);
      io_uring_sqe_set_data64(sqe, kIgnore);
    }
  }

  void arm_wake() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
    io_uring_sqe_set_data64(sqe, kWake);
  }

  int reap() {
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    int readied = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (seen == kMaxReap) break;  // the rest wait, in order, in the CQ
      ++seen;
      uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data == kIgnore) continue;
      if (data == kWake) {
        rearm = true;
        continue;
      }
      if ((data & kTagMask) == kSendTag) {
        complete_send(reinterpret_cast<LinkedSend*>(data & ~kTagMask), cqe->res);
        continue;
      }
      auto* w = reinterpret_cast<WaitRecord*>(data);
      if (w->accept) {
        bool more = cqe->flags & IORING_CQE_F_MORE;
        if (cqe->res >= 0) bump(counters().accepts_multishot);
        if (!more) std::erase(accepts_, w->accept);
        accept_completed(w->accept, cqe->res, more);
        ++readied;
        continue;
      }
      if (w->send_failed && resend(w, cqe)) continue;
      deadlines_.remove(w);
      ++readied;
      if (w->buffered) {
        complete_recv(w, cqe);
        continue;
      }
      // Callbacks wait for polls; goroutines map their own result.
      w->res = w->cb ? poll_result(w, cqe->res) : cqe->res;
      complete(w);
    }
    io_uring_cq_advance(&ring_, seen);
    bump(counters().completions, seen);
    if (rearm) arm_wake();
    return readied;
  }

  // A read_async RECV ended: bytes (lent to the callback), EOF or no
  // buffer (plain readiness: the reader finds out), or the deadline/an
  // error.  Whatever the result, a CQE that names a buffer consumed it (EOF
  // does too): it goes straight back to the ring once the callback is done.
  void complete_recv(WaitRecord* w, const io_uring_cqe* cqe) {
    int res = cqe->res;
    char* buf = nullptr;
    unsigned short bid = 0;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      bid = static_cast<unsigned short>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      buf = bufs_ + static_cast<size_t>(bid) * kBufSize;
    }
    if (res > 0 && buf) {
      w->data = {buf, static_cast<size_t>(res)};
      w->res = 0;
      bump(counters().recv_buffered);
    } else {
      if (res == -ENOBUFS) bump(counters().recv_nobufs);
      w->res = res >= 0 || res == -ENOBUFS ? 0 : poll_result(w, res);
    }
    complete(w);  // w may be gone now
    if (buf) {
      io_uring_buf_ring_add(br_, buf, kBufSize, bid, io_uring_buf_ring_mask(kBufCount), 0);
      io_uring_buf_ring_advance(br_, 1);
    }
  }

  io_uring ring_;
  std::vector<AcceptQueue*> accepts_;  // multishot ACCEPTs armed here
  LinkedSend* sends_ = nullptr;  // in flight
  io_uring_buf_ring* br_ = nullptr;
  char* bufs_ = nullptr;
  DeadlineHeap deadlines_;
  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
};

}  // namespace

std::unique_ptr<goro::Poller> make_uring_poller(std::string* detail) {
  struct Try {
    unsigned flags;
    const char* name;
  };
  static constexpr Try kTries[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
           IORING_SETUP_TASKRUN_FLAG,
       "SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN|TASKRUN_FLAG"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "COOP_TASKRUN|TASKRUN_FLAG"},
      {0, "no setup flags"},
  };
  int err = 0;
  for (const auto& t : kTries) {
    io_uring ring;
    io_uring_params p{};
    p.flags = t.flags;
    err = io_uring_queue_init_params(kRingEntries, &ring, &p);
    if (err == 0) {
      auto poller = std::make_unique<UringPoller>(ring);
      std::string bufs;
      poller->setup_buffers(&bufs);
      if (detail) *detail = std::string("io_uring (") + t.name + "; " + bufs + ")";
      return poller;
    }
    if (err != -EINVAL) break;  // EPERM/ENOSYS: no flag will help
  }
  if (detail) *detail = std::string("io_uring_setup: ") + std::strerror(-err);
  return nullptr;
}

}  // namespace goro::netpoll::detail
