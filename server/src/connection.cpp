#include "goro/http/connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "goro/http/parser.hpp"

namespace goro::http {

namespace {

using namespace std::chrono_literals;

// Read buffer per connection.  16 KiB holds a typical request (and a few
// pipelined ones) in one read; the parser copies what it keeps, so larger
// requests just take more reads.
constexpr size_t kReadBufferBytes = 16 * 1024;
// File bodies stream through a buffer of this size (one read + one write).
constexpr size_t kFileChunkBytes = 64 * 1024;
// After an error response, how long we keep reading what the client still
// sends before closing, so the response is not destroyed by a RST.
constexpr auto kLingerTime = 1s;

// Pool mode: how often an idle kept-alive connection checks whether queued
// connections wait for its thread (then it moves to the pool's idle set).
// 50 ms bounds their extra wait; 64 idle threads waking 20 times a second
// cost nothing measurable.
constexpr auto kStarvedCheck = 50ms;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Pipelining: responses to requests that were already buffered are queued
// and sent together once no complete request is left to answer.  The queue
// is flushed when it holds this much, so a client pipelining faster than it
// reads costs the connection at most this plus one response (and the read
// buffer: nothing more is read while requests wait in it).
constexpr size_t kMaxQueuedBytes = 64 * 1024;
// A body up to this size is copied into the queue; a larger one (or a file)
// is written from where it is, after whatever was queued before it.
constexpr size_t kMaxCopiedBody = 16 * 1024;

// What a connection gets when memory ran out while serving it: preformatted,
// so sending it allocates nothing (RFC 9110 §6.6.1 lets a 5xx omit Date).
constexpr std::string_view kOutOfMemory =
    "HTTP/1.1 503 Service Unavailable\r\nServer: goro\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 39\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    "503 Service Unavailable: out of memory\n";
static_assert(kOutOfMemory.size() - kOutOfMemory.find("\r\n\r\n") - 4 == 39);

// Writes head + body (or the file).  0 or -errno.  Every write may stall
// (no byte taken by the kernel) for at most `stall` — --write-timeout
// measures progress, not the whole response, so a large file reaches a
// slow reader that keeps reading; one that stops reading is closed.
int write_response(netpoll::Conn& conn, Metrics& metrics, const Response& r, bool keep_alive, bool head_only,
                   netpoll::Clock::duration stall, bool http10 = false) {
  constexpr netpoll::Deadline d = netpoll::kNoDeadline;
  metrics.response_writes.fetch_add(1, std::memory_order_relaxed);
  fmt::memory_buffer head;
  write_head(head, r, keep_alive, http10);
  // Allocated before a byte is sent: running out of memory here must not
  // leave a response half written (serve_connection answers 503 instead).
  std::unique_ptr<char[]> chunk;
  if (!head_only && r.file.is_open()) chunk = std::make_unique<char[]>(kFileChunkBytes);
  if (head_only || (!r.file.is_open() && r.body.empty())) return conn.write_all({head.data(), head.size()}, d, stall);
  if (!r.file.is_open()) {
    iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(r.body.data()), r.body.size()}};
    return conn.write_all(std::span<const iovec>(iov, 2), d, stall);
  }
  if (int e = conn.write_all({head.data(), head.size()}, d, stall); e < 0) return e;
  auto& file = const_cast<netpoll::File&>(r.file);
  for (uint64_t off = 0; off < file.size();) {
    ssize_t n = file.pread({chunk.get(), kFileChunkBytes}, off);
    if (n <= 0) return n < 0 ? static_cast<int>(n) : -EIO;  // file shrank: the length we sent is a lie
    // Reading the chunk takes no time the client could be blamed for; each
    // write_all starts its stall clock afresh right after the last one
    // finished, which was progress.
    if (int e = conn.write_all({chunk.get(), static_cast<size_t>(n)}, d, stall); e < 0) return e;
    off += static_cast<uint64_t>(n);
  }
  return 0;
}

// The responses of one pipelined batch, in request order, not yet sent.
// flush() sends them in one write (or as few as the kernel takes); every
// path that waits for the client — to read, to answer 100-continue or an
// error, or to go idle — flushes first, so the client never waits for an
// answer goro holds.  Access-log lines are written at the flush, with what
// was really sent, as for a response written at once.
class Outbox {
 public:
  Outbox(netpoll::Conn& conn, const ConnEnv& env) : conn_(conn), env_(env) {}

  // Whether add() takes this response (else: flush(), then write_response).
  static bool takes(const Response& r, bool head_only) {
    return !r.file.is_open() && (head_only || r.body.size() <= kMaxCopiedBody);
  }
  bool empty() const { return out_.size() == 0; }
  // Queues a response and, with an access log, its line (the time it took
  // is measured now).  All or nothing: if memory runs out, what was queued
  // before is intact and nothing of this response is.
  void add(const Response& r, const Request& req, bool keep_alive, bool head_only, bool http10,
           netpoll::Clock::time_point began) {
    size_t before = out_.size();
    try {
      // A batch (a second response queued) grows the buffer in one step
      // past the inline part, not by halves per response, and never far
      // past the bound; a lone response stays inline.
      size_t need = before + kHeadRoom + r.body.size();
      if (before > 0 && need > out_.capacity())
        out_.reserve(std::min(std::max<size_t>(2 * out_.capacity(), 8 * 1024), kMaxQueuedBytes) + kHeadRoom +
                     r.body.size());
      write_head(out_, r, keep_alive, http10);
      if (!head_only && !has_no_content(r.status)) out_.append(r.body.data(), r.body.data() + r.body.size());
      if (env_.access_log)
        pending_.push_back({req.method, req.target, req.version_minor, r.status,
                            r.content_length(), netpoll::Clock::now() - began});
    } catch (...) {
      out_.resize(before);
      throw;
    }
  }
  // Flush now: the queue is at its bound (or holds as many log lines).
  bool full() const { return out_.size() >= kMaxQueuedBytes || pending_.size() >= kMaxPendingLines; }
  // Before a wait: a queue grown past the inline buffer is not kept by a
  // connection that waits for its client.
  void trim() {
    if (out_.capacity() > fmt::inline_buffer_size) out_ = fmt::memory_buffer();
    if (pending_.capacity() > kMaxPendingLines) pending_ = {};
  }

  // Whether the queue may go out with the idle wait (ServeOptions::park):
  // no access-log line waits for the bytes really sent.
  bool can_hand_over() const { return pending_.empty(); }
  // Gives what is queued to park(), which sends it with the idle wait.
  void hand_over(const std::function<void(std::span<const char>)>& park) {
    if (out_.size() > 0) env_.metrics.response_writes.fetch_add(1, std::memory_order_relaxed);
    park({out_.data(), out_.size()});
    out_.clear();
  }

  // Sends what is queued: 0 or -errno (then nothing more may be sent).
  int flush() {
    if (out_.size() == 0) return 0;
    env_.metrics.response_writes.fetch_add(1, std::memory_order_relaxed);
    int w = conn_.write_all({out_.data(), out_.size()}, netpoll::kNoDeadline, env_.config.write_timeout);
    out_.clear();
    if (!pending_.empty()) {
      Request line;  // what the access log prints of a request
      for (auto& p : pending_) {
        line.method = std::move(p.method);
        line.target = std::move(p.target);
        line.version_minor = p.version_minor;
        log(line, p.status, w < 0 ? 0 : p.bytes, p.took);
      }
      pending_.clear();
    }
    return w;
  }
  void log(const Request& req, int status, uint64_t bytes, netpoll::Clock::duration took) {
    if (!env_.access_log) return;
    if (peer_.empty()) peer_ = conn_.peer();
    env_.access_log->record(peer_, req, status, bytes, took);
  }

 private:
  static constexpr size_t kHeadRoom = 512;  // a head is usually well under this
  // A batch of tiny requests could otherwise hold hundreds of lines.
  static constexpr size_t kMaxPendingLines = 64;
  struct Pending {
    std::string method, target;
    int version_minor;
    int status;
    uint64_t bytes;
    netpoll::Clock::duration took;
  };
  netpoll::Conn& conn_;
  const ConnEnv& env_;
  fmt::memory_buffer out_;  // inline: a few small responses; grows on the heap
  std::vector<Pending> pending_;
  std::string peer_;
};

// Answers with an error page and closes.
void fail(netpoll::Conn& conn, const ConnEnv& env, int status, std::string_view why) {
  Response r = Response::error(status, why);
  env.metrics.count_status(status);
  write_response(conn, env.metrics, r, /*keep_alive=*/false, false, env.config.write_timeout);
  conn.linger(netpoll::deadline_in(kLingerTime));
}

// Waits for the first byte of a request.  In pool mode a kept-alive
// connection (`yield` after its first request) must not hold a thread while
// accepted connections queue for one, so the wait looks at the queue every
// kStarvedCheck and gives up (-EAGAIN): the caller hands the connection to
// the pool's idle set, which queues it again once readable.  Looking at the
// queue before the socket is deliberate: a request that already arrived is
// seen by the idle set at once, and the queued connections go first.
int wait_for_request(netpoll::Conn& conn, const ConnEnv& env, netpoll::Deadline d, bool yield) {
  if (env.draining.fired()) return -ECANCELED;
  if (!env.starved || !yield) return conn.wait_readable(d, &env.draining);
  for (;;) {
    if (env.starved->load(std::memory_order_relaxed) > 0) return -EAGAIN;
    netpoll::Deadline slice = std::min(d, netpoll::deadline_in(kStarvedCheck));
    int r = conn.wait_readable(slice, &env.draining);
    if (r != -ETIMEDOUT || slice == d) return r;
  }
}

// serve_connection's loop.  `can_answer` is true while a request is being
// read or handled and no byte of its response has been sent: only then may
// a 503 for running out of memory follow.
ConnEnd serve(netpoll::Conn& conn, const ConnEnv& env, ServeOptions& opts, Outbox& out, bool& can_answer) {
  const Config& cfg = env.config;
  RequestParser parser(cfg.limits);
  // Held only while a request is being read or parsed: an idle kept-alive
  // connection pins no buffer (memory per idle connection is a headline
  // figure in goroutine mode, where the rest is a page or two of stack).
  // Bytes the poller read come in a buffer of their own size, small: a
  // poll that wakes 64 connections allocating 16 KiB each made glibc grow
  // and trim its heap on every wave (page faults and madvise, a quarter of
  // the CPU for hello).  The full buffer is allocated when a read needs it.
  std::unique_ptr<char[]> buf = std::move(opts.buf);
  size_t cap = buf ? opts.buffered : 0;
  size_t start = 0, end = cap;  // unparsed bytes are buf[start, end)
  // The first request's header deadline runs from accept, whoever waited
  // for its first byte (the poller in goroutine mode, a queue in pool mode):
  // one deadline, not one per waiter.  Without an accept time it runs from
  // now, read when a wait first needs it.
  //
  // The clock is read only for a deadline that a wait will use or for the
  // access log: a request that is whole in the buffer waits for nothing.
  // Two reads per request were 6.5% of the CPU of pipelined hello (the
  // vDSO clock of a VM, cold after the syscalls around it).
  netpoll::Deadline first_deadline =
      opts.accepted == netpoll::Clock::time_point{} ? netpoll::kNoDeadline : opts.accepted + cfg.header_timeout;
  auto first_deadline_now = [&] {
    if (first_deadline == netpoll::kNoDeadline) first_deadline = netpoll::deadline_in(cfg.header_timeout);
    return first_deadline;
  };
  bool first = opts.first;
  bool known_readable = opts.resumed && end == 0;
  netpoll::Clock::time_point ready_at = opts.ready_at;

  for (;;) {
    // 1. Wait for the first byte of the next request.
    if (start == end && !std::exchange(known_readable, false)) {
      if (opts.detach_when_idle && opts.park && !env.draining.fired() && out.can_hand_over()) {
        out.hand_over(opts.park);
        return ConnEnd::parked;
      }
      if (out.flush() < 0) return ConnEnd::closed;
      out.trim();
      start = end = 0;
      buf.reset();
      cap = 0;
      if (opts.detach_when_idle && !env.draining.fired()) return ConnEnd::idle;
      netpoll::Deadline wait_until = first ? first_deadline_now() : netpoll::deadline_in(cfg.idle_timeout);
      int r = wait_for_request(conn, env, wait_until, !first);
      if (r == -EAGAIN) {
        // Pool: a queued connection needs this thread.  The idle set keeps
        // this one's idle deadline, not a fresh one.
        if (opts.idle_until) *opts.idle_until = wait_until;
        return ConnEnd::idle;
      }
      if (r == -ECANCELED && !conn.readable_now()) return ConnEnd::closed;  // shutting down, nothing sent
      if (r == -ETIMEDOUT) {
        env.metrics.timeouts.fetch_add(1, std::memory_order_relaxed);
        return ConnEnd::closed;  // idle: close without a word, as browsers expect
      }
      if (r < 0 && r != -ECANCELED) return ConnEnd::closed;
    }
    // Later requests: the header deadline runs from their first byte (as
    // the pool's idle set saw it, when it queued this connection), or from
    // the first read this request needs: its bytes on hand took no waiting.
    auto since = std::exchange(ready_at, netpoll::Clock::time_point{});
    netpoll::Deadline header_deadline =
        first || since == netpoll::Clock::time_point{} ? netpoll::kNoDeadline : since + cfg.header_timeout;
    // Set once the headers are complete: the whole body must arrive by it.
    // One deadline rather than one per read, which a client trickling a
    // byte per read could extend forever.
    netpoll::Deadline body_deadline = netpoll::kNoDeadline;
    auto began = env.access_log ? netpoll::Clock::now() : netpoll::Clock::time_point{};
    can_answer = true;

    // 2. Read until the parser hands out a whole request.
    for (;;) {
      if (start < end) {
        auto step = parser.feed({buf.get() + start, end - start});
        start += step.consumed;
        if (step.event == RequestParser::Event::request) break;
        // Earlier requests of the batch are answered before this one.
        if (step.event == RequestParser::Event::error) {
          spdlog::debug("bad request: {} {}", parser.error_status(), parser.error_reason());
          can_answer = false;
          if (out.flush() < 0) return ConnEnd::closed;
          fail(conn, env, parser.error_status(), parser.error_reason());
          return ConnEnd::closed;
        }
        if (step.event == RequestParser::Event::expect_continue) {
          if (out.flush() < 0 || conn.write_all(kContinue, netpoll::kNoDeadline, cfg.write_timeout) < 0)
            return ConnEnd::closed;
          continue;
        }
      }
      // A read is needed: the deadline it waits under runs from now (before
      // the flush, so a slow reader's flush counts against it too).
      if (parser.headers_done() && body_deadline == netpoll::kNoDeadline)
        body_deadline = netpoll::deadline_in(cfg.body_timeout);
      if (!parser.headers_done() && header_deadline == netpoll::kNoDeadline)
        header_deadline = first ? first_deadline_now() : netpoll::deadline_in(cfg.header_timeout);
      netpoll::Deadline d = parser.headers_done() ? body_deadline : header_deadline;
      // No complete request is left in the buffer: send the batch's answers
      // before waiting for more (the client may wait for them first).
      if (out.flush() < 0) return ConnEnd::closed;
      out.trim();
      start = end = 0;
      if (cap < kReadBufferBytes) {
        buf = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
        cap = kReadBufferBytes;
      }
      ssize_t n = conn.read({buf.get(), kReadBufferBytes}, d);
      if (n == -ETIMEDOUT) {
        env.metrics.timeouts.fetch_add(1, std::memory_order_relaxed);
        can_answer = false;
        fail(conn, env, 408, parser.headers_done() ? "body not received in time" : "headers not received in time");
        return ConnEnd::closed;
      }
      if (n <= 0) return ConnEnd::closed;  // peer closed or reset: no one to answer
      end = static_cast<size_t>(n);
    }
    first = false;

    // 3. Dispatch.  A handler's exception becomes a 500; the server goes on.
    // The read buffer is not needed while the handler runs (it may sleep for
    // long) unless pipelined bytes wait in it.
    if (start == end) {
      buf.reset();
      cap = 0;
    }
    Request req = parser.take();
    env.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    // Answers already queued do not wait for a handler that may block.
    if (!out.empty() && env.router.may_block(req) && out.flush() < 0) return ConnEnd::closed;
    Response resp;
    try {
      resp = env.router.dispatch(req, env.context);
    } catch (const std::bad_alloc&) {
      // Not the handler's fault nor the client's: the server is short of
      // memory.  Say so (503, try again) rather than 500.
      env.metrics.handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("handler for {} {}: out of memory; answering 503", req.method, req.target);
      resp = Response::error(503, "out of memory");
      resp.headers.push_back({"Retry-After", "1"});
      resp.close = true;  // give back the connection's memory too
    } catch (const std::exception& e) {
      env.metrics.handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("handler for {} {} threw: {}", req.method, req.target, e.what());
      resp = Response::error(500, "the handler failed");
    } catch (...) {
      env.metrics.handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("handler for {} {} threw a non-exception", req.method, req.target);
      resp = Response::error(500, "the handler failed");
    }

    // 4. Answer, and decide whether to keep the connection.
    // Starved pool threads are no reason to close: the connection moves to
    // the idle set instead (see wait_for_request).
    // A small response joins the batch; it goes out once no complete
    // request is left to answer (step 1 or 2), or now if the queue is full
    // or the connection closes after it.
    bool keep = req.keep_alive && !resp.close && !env.draining.fired();
    bool head_only = req.method == "HEAD", http10 = req.version_minor == 0;
    int w = 0;
    if (Outbox::takes(resp, head_only)) {
      out.add(resp, req, keep, head_only, http10, began);  // queued whole, or not at all (can_answer holds)
      can_answer = false;
      env.metrics.count_status(resp.status);
      if (!keep || out.full()) w = out.flush();
    } else {
      can_answer = false;
      env.metrics.count_status(resp.status);
      w = out.flush();
      if (w == 0) w = write_response(conn, env.metrics, resp, keep, head_only, cfg.write_timeout, http10);
      if (env.access_log) out.log(req, resp.status, w < 0 ? 0 : resp.content_length(), netpoll::Clock::now() - began);
    }
    RequestParser::recycle(req);
    if (w < 0) return ConnEnd::closed;
    if (!keep) {
      // Linger only if the client sent more than we read (pipelined requests
      // we will not answer): without unread data a plain close sends no RST.
      if (start < end || conn.readable_now()) conn.linger(netpoll::deadline_in(kLingerTime));
      return ConnEnd::closed;
    }
  }
}

}  // namespace

ConnEnd serve_connection(netpoll::Conn& conn, const ConnEnv& env, ServeOptions opts) {
  // Memory can run out anywhere in the loop (the read buffer, the parser's
  // copies, a response).  That must not take the process down (an exception
  // leaving a thread or goroutine ends it): answer 503 if the connection can
  // still carry it (no response to this request has begun), and close.
  bool can_answer = false;
  Outbox out(conn, env);
  try {
    return serve(conn, env, opts, out, can_answer);
  } catch (const std::bad_alloc&) {
    try {
      spdlog::error("out of memory serving a connection; closing it{}", can_answer ? " after a 503" : "");
      if (!can_answer) return ConnEnd::closed;  // a response already began: it cannot be replaced
      // The requests before this one get their answers first.
      if (out.flush() < 0) return ConnEnd::closed;
      env.metrics.count_status(503);
      conn.write_all(kOutOfMemory, netpoll::kNoDeadline, env.config.write_timeout);
    } catch (...) {
      // Not even the log line or the write's iovec could be allocated: just close.
    }
    return ConnEnd::closed;
  }
}

}  // namespace goro::http
