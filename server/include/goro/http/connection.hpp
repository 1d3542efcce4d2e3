/// \file
/// The per-connection loop, shared by every mode.
///
/// read → parse (llhttp) → dispatch → write, repeated while the connection
/// is kept alive.  Requests that arrived together (pipelined) are all handled
/// before their answers go out, in order, in one write (at most 64 KiB is
/// queued).  It blocks only through goro::netpoll::Conn, so the same code
/// runs on an OS thread (thread, pool) or a goroutine.
///
/// Timeouts:
/// - **header** — one absolute deadline from accept (first request, however
///   long the connection waited in a poller or a queue) or the
///   request's first byte (later ones) until the header block is
///   complete: 408 and close;
/// - **body** — one absolute deadline from the end of the headers for the
///   whole body: 408 and close;
/// - **idle** — waiting for the next request on a kept-alive connection:
///   close without a word;
/// - **write** — progress: a response write that the kernel takes no byte of
///   for that long: close (a slow reader that keeps reading gets
///   the whole response).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "goro/http/access_log.hpp"
#include "goro/http/config.hpp"
#include "goro/http/metrics.hpp"
#include "goro/http/router.hpp"
#include "goro/netpoll/conn.hpp"
#include "goro/netpoll/interrupt.hpp"

namespace goro::http {

/// What the loop needs from its server.  Shared read-only by all connections.
struct ConnEnv {
  const Config& config;    ///< timeouts and limits
  const Router& router;    ///< dispatches each request
  const Context& context;  ///< what handlers see of the server
  Metrics& metrics;        ///< counters the loop updates
  /// Fired when graceful shutdown begins: idle connections close, busy ones
  /// answer their current request with "Connection: close".
  const netpoll::Interrupt& draining;
  AccessLog* access_log = nullptr;  ///< one line per request; nullptr: no log
  /// Pool mode: queued connections that no idle thread is about to take.
  /// While any starve, a kept-alive connection with no request buffered gives
  /// its thread up (serve_connection returns ConnEnd::idle) and the pool
  /// watches it in its idle set, so a fixed pool cannot be held by idle
  /// kept-alive clients — and none is closed under a client's feet.
  const std::atomic<size_t>* starved = nullptr;
};

/// Why serve_connection returned.
enum class ConnEnd {
  closed,  ///< done: the caller closes the connection
  idle,    ///< waiting for the next request: the caller parks it without a
           ///< goroutine (Conn::when_readable) or thread (the pool's idle set)
           ///< and calls again, with `resumed`, when it is readable
  parked,  ///< idle, and already parked by ServeOptions::park: the caller
           ///< must not touch the connection any more
};

/// How one call of serve_connection starts and when it gives the
/// connection back.
struct ServeOptions {
  /// Return ConnEnd::idle instead of waiting for a request (goroutine mode:
  /// an idle connection then holds no goroutine and no stack).
  bool detach_when_idle = false;
  /// The connection is known readable (a when_readable wait fired): read at
  /// once.
  bool resumed = false;
  /// With `resumed`: no request has been served on the connection yet.
  bool first = true;
  /// When the connection was accepted: the first request's header deadline
  /// runs from here.  Default (epoch): from the first wait or read that
  /// needs the deadline.
  netpoll::Clock::time_point accepted{};
  /// Bytes already read from the connection (the poller's read, goroutine
  /// mode on io_uring), served before anything is read: buf holds exactly
  /// `buffered` bytes.
  std::unique_ptr<char[]> buf;
  size_t buffered = 0;  ///< bytes in `buf`
  /// Pool mode, resumed: when the idle set saw the connection readable.  The
  /// header deadline of the request that made it readable runs from here, so
  /// its wait in the queue counts (as the first request's does from
  /// `accepted`).  Default (epoch): from the first read the request needs.
  netpoll::Clock::time_point ready_at{};
  /// Pool mode: where ConnEnd::idle stores the end of the idle wait it gave
  /// up (`--idle-timeout` from its last response), for the idle set to keep.
  netpoll::Deadline* idle_until = nullptr;
  /// With detach_when_idle (goroutine mode): parks the connection going
  /// idle, sending `unsent` — the answers still queued, valid only for the
  /// call — with its idle wait (Conn::when_readable), so that on io_uring
  /// they cost no write of their own.  serve_connection then returns
  /// ConnEnd::parked.  Unset, or with an access-log line pending (it needs
  /// the bytes really sent), the answers are written first and
  /// ConnEnd::idle is returned.
  std::function<void(std::span<const char> unsent)> park;
};

/// Serves `conn` until it closes, fails, times out, or (with
/// detach_when_idle) goes idle.  Never throws; closes nothing (the caller
/// owns `conn`).
ConnEnd serve_connection(netpoll::Conn& conn, const ConnEnv& env, ServeOptions opts = {});

}  // namespace goro::http
