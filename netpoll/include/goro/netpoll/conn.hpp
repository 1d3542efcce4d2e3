/// \file
/// One accepted (or connected) TCP connection.
///
/// Error convention (liburing's): functions return >= 0 on success and a
/// negative errno on failure.  -ETIMEDOUT means the deadline passed first,
/// -ECANCELED that an Interrupt fired.  Mapping errors to HTTP statuses happens
/// in one place in the server, never here.
///
/// Who may call what: read/write/wait_readable/close belong to the one thread
/// (or goroutine) that serves the connection.  shutdown() may be called from
/// any thread while the connection is open; it wakes that owner.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string>

#include "goro/netpoll/deadline.hpp"
#include "goro/netpoll/interrupt.hpp"

/// Network and file I/O that parks a goroutine on its P's poller (io_uring
/// or epoll) and blocks an OS thread in poll(2), every wait bounded by an
/// absolute Deadline (library goro::netpoll).
namespace goro::netpoll {

namespace detail {
struct CallbackAccess;  // netpoll/src/backend.hpp
}

/// A wait that holds no goroutine (see Conn::when_readable).  on_ready runs on
/// the worker thread that reaped the completion — not in a goroutine, so it
/// must not block or park; it typically spawns one (goro::go).  The private
/// part belongs to netpoll from when_readable until on_ready is called; the
/// derived class owns the rest, and may re-arm or free the Callback from
/// on_ready on.
struct Callback {
  /// Out of line: it makes the (internal) wait record.
  Callback() noexcept;
  virtual ~Callback() = default;

  /// The wait ended.  res: 0 when readable, -ETIMEDOUT at the deadline, -ECANCELED when the
  /// interrupt fired, or another -errno.  `data`: the first bytes, when the
  /// poller read them itself (io_uring); valid only during the call — copy
  /// what you keep.  Empty data with res == 0 means "read them yourself"
  /// (there may be bytes, or EOF, or an error for read() to report).
  virtual void on_ready(int res, std::span<const char> data) = 0;

  /// The size of the poller's record of the pending wait (a detail::WaitRecord, defined in
  /// netpoll/src/backend.hpp, which static_asserts that it fits).  Opaque
  /// here so that backend internals stay out of the public headers.
  static constexpr size_t kWaitBytes = 72;

 private:
  friend struct detail::CallbackAccess;
  alignas(8) std::byte wait_[kWaitBytes];
  const Interrupt* intr_ = nullptr;
  Interrupt::Enrollment enrollment_{-1};
};

/// A TCP connection that owns its non-blocking socket (see conn.hpp for
/// the error convention and who may call what).  Closed on destruction.
class Conn {
 public:
  /// Not open (fd() == -1).
  Conn() = default;
  /// Takes ownership of a connected, non-blocking socket.
  explicit Conn(int fd) noexcept : fd_(fd) {}
  /// Takes o's socket; o is left closed.
  Conn(Conn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  /// Closes this connection's socket, then takes o's.
  Conn& operator=(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() { close(); }

  /// Connects to host:port (numeric IPv4/IPv6); for tests and clients.
  /// Returns 0 and fills `out`, or -errno.
  static int connect(Conn& out, const std::string& host, int port, Deadline d = kNoDeadline);

  /// The socket, or -1 when not open.
  int fd() const { return fd_; }
  /// True while the connection owns a socket.
  bool is_open() const { return fd_ >= 0; }

  /// Reads up to buf.size() bytes.  Returns the count (0 = peer closed) or -errno.
  ssize_t read(std::span<char> buf, Deadline d);

  /// Waits until bytes (or EOF) can be read, the deadline passes (-ETIMEDOUT)
  /// or `intr` fires (-ECANCELED).  Returns 0 when readable.
  int wait_readable(Deadline d, const Interrupt* intr = nullptr);

  /// True if a read would not block right now.
  bool readable_now();

  /// Goroutine mode only: arms a wait for readability that holds no
  /// goroutine — the poller keeps the connection, and cb->on_ready(res) runs
  /// on a worker when bytes (or EOF) arrive, at the deadline (-ETIMEDOUT) or
  /// when `intr` fires (-ECANCELED).  This is how an idle connection costs
  /// no stack.  Call from a goroutine; returns false (and arms nothing) on an
  /// OS thread.  cb must stay alive, and the connection open, until on_ready.
  /// On io_uring the poller reads the first bytes itself, into a buffer it
  /// lends only for the call (see Callback::on_ready).
  ///
  /// Where the wait lands is netpoll's decision: when `cb` is armed again
  /// after it fired (a served connection going idle: its goroutine is about
  /// to exit), the goroutine first offers itself to a busier P
  /// (goro::rehome), so idle waits gather on a poller that is polled anyway
  /// and an underused P can sleep.  A callback's first arming (the acceptor
  /// handing over a new connection) stays where it is.
  bool when_readable(Deadline d, const Interrupt* intr, Callback* cb);
  /// when_readable(d, intr, cb) after writing `unsent` (a connection going
  /// idle with its last answers queued; the bytes are copied, so they need
  /// to live only for the call).  On io_uring the poller sends them itself,
  /// in the same submission as the wait (no write syscall); elsewhere this
  /// writes them first, parking as write_all does.  The wait begins once
  /// every byte is sent, and `d` is counted from then.  If the send fails,
  /// on_ready gets -EPIPE (or the error); if no byte is taken for `stall`,
  /// -ETIMEDOUT.
  bool when_readable(Deadline d, const Interrupt* intr, Callback* cb, std::span<const char> unsent,
                     Clock::duration stall);

  /// Writes every byte of every buffer; handles short writes.  0 or -errno.
  int write_all(std::span<const iovec> bufs, Deadline d);
  /// Writes every byte of `s`; handles short writes.  0 or -errno.
  int write_all(std::string_view s, Deadline d);

  /// The same, but -ETIMEDOUT also once no byte could be sent for `stall`:
  /// every byte the kernel takes restarts that clock (nginx's send_timeout).
  /// A reader that is slow but keeps reading gets the whole response however
  /// long it takes; one that stops reading is given up after `stall`.  `d`
  /// still bounds the whole call (kNoDeadline for none).
  int write_all(std::span<const iovec> bufs, Deadline d, Clock::duration stall);
  /// write_all(s, d) with a stall limit, as for the iovec form.
  int write_all(std::string_view s, Deadline d, Clock::duration stall);

  /// Shuts both directions down; wakes a blocked owner.  Any thread.
  void shutdown();

  /// Ends politely before close(): shuts the write side, then reads and
  /// discards what the peer still sends (at most `max_bytes`, until `d` or
  /// EOF) so the kernel does not answer unread data with a RST that destroys
  /// the response in flight.  Does not close the descriptor.
  void linger(Deadline d, size_t max_bytes = 256 * 1024);

  /// Closes the socket (idempotent).  The owner only.
  void close();

  /// "ip:port" of the peer, or "-" if unknown.
  std::string peer() const;

 private:
  int fd_ = -1;
};

}  // namespace goro::netpoll
