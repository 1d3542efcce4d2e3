// goro/http/fanout.hpp — GET /fanout: one request that calls N backends at
// once and gathers their answers over a channel, with a deadline.
//
// The contract (the Go peer in loadtest/peers/go implements the same one):
//
//   GET /fanout?n=N&ms=M
//     n   integer 1..100     concurrent upstream calls        (required)
//     ms  integer 0..10000   passed on to every upstream call (required)
//     Anything else, or a missing parameter: 400, text/plain.
//
//   Each of the N calls is `GET <upstream URL with ms=M>` (see
//   FanoutOptions::upstream), made at the same time; a call succeeds when
//   the upstream answers 2xx (its body is read and dropped).  Upstream
//   connections are kept alive and pooled per host:port, up to
//   FanoutOptions::max_idle_per_host idle ones.
//
//   The handler answers when all N are back, or at the deadline
//   (--fanout-timeout, default 1 s, measured from the request's start),
//   whichever comes first.  Answers that arrive after the deadline are
//   dropped; their calls end at that same deadline (it is also their own)
//   and leave nothing behind.
//
//   Answer: application/json, one object on one line,
//     {"n":10,"ms":20,"ok":10,"failed":0,"timed_out":0,"elapsed_ms":21.3}
//   ok + failed + timed_out == n.  timed_out counts calls that had not
//   answered by the deadline; failed counts the others that did not succeed
//   (refused, connection broken, malformed response, a non-2xx status).
//     200  every call succeeded                      (ok == n)
//     504  the deadline passed with calls unanswered (timed_out > 0)
//     502  all answered in time, some failed         (failed > 0, timed_out == 0)
//   The 502/504 bodies are the same JSON object, so a caller sees how many
//   answers it got (partial results: counts only, no upstream bodies).
//
// Execution: the same handler code in every mode.  In goroutine mode each
// call is a goroutine that parks on netpoll; in thread and pool modes each
// call is its own OS thread, started for it — that is what those models
// cost.  Either way the results come back over a goro::Chan buffered for N
// (a late sender never blocks) and the handler waits with goro::select
// against a deadline channel.
//
// Pool mode with the default (self) upstream: the sub-calls are requests to
// the same server and queue for the same --threads workers as the /fanout
// requests that wait for them.  With more concurrent /fanout requests than
// workers nothing is left to serve the sub-calls, and every request ends at
// its deadline (504).  Point --upstream at another server to measure the
// pool model rather than this self-deadlock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "goro/http/router.hpp"

namespace goro::http {

/// What /fanout calls and how long it waits; see the file comment for the
/// endpoint's contract.
struct FanoutOptions {
  /// The upstream URL (http:// only).  `{ms}` in it is replaced by the
  /// request's ms; without `{ms}`, `ms=M` is appended as a query parameter
  /// (after `?`, or `&` if the URL already has a query).  Empty: this
  /// server's own /sleep, at self_base() + "/sleep?ms=M".
  std::string upstream;
  /// "http://127.0.0.1:8080": where this server listens, asked at the first
  /// request that needs it (a --port 0 server learns its port only after
  /// listen(), when the routes are already built).  Used only when
  /// `upstream` is empty.
  std::function<std::string()> self_base;
  /// The deadline for a whole /fanout request, from its start (--fanout-timeout).
  std::chrono::milliseconds timeout{std::chrono::seconds(1)};
  /// Idle keep-alive connections kept per upstream host:port.  /fanout's
  /// concurrency is n per request times concurrent requests; fewer idle
  /// connections than that make each burst dial anew.
  std::size_t max_idle_per_host = 1024;
};

/// Registers GET /fanout on `r`.  Throws std::invalid_argument when
/// opts.upstream is set but is not a usable http:// URL (check it first with
/// check_fanout_upstream to report it as a flag error).
void add_fanout_routes(Router& r, FanoutOptions opts);

/// Whether `url` is usable as FanoutOptions::upstream: "" if so, else why not.
std::string check_fanout_upstream(const std::string& url);

/// "http://HOST:PORT" for reaching a server that listens on `bind`:`port`
/// from this host: a wildcard bind (0.0.0.0, ::) becomes the loopback
/// address of its family; an IPv6 address is bracketed.
std::string loopback_base(const std::string& bind, int port);

}  // namespace goro::http
