// Connections the server will not serve (internal to goro::http): over
// --max-conns, or a thread that could not be started in thread mode.
//
// reject() answers 503 with Retry-After without reading the request, shuts
// the write side and hands the socket to one lingering thread, which reads
// and discards what the client still sends until EOF or kRejectLinger:
// closing with unread data would send a RST that can destroy the 503 before
// the client reads it.  Beyond kMaxLingering sockets at once (a flood) new
// rejects close at once.
//
// Invariants: lingering_, thread_ (its start) and stop_ are guarded by mu_;
// the lingering thread is the only reader of the sockets in lingering_, and
// closes them (by erasing them) under mu_.
#pragma once

#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "goro/http/metrics.hpp"
#include "goro/netpoll/conn.hpp"
#include "goro/netpoll/deadline.hpp"

namespace goro::http::detail {

class Rejecter {
 public:
  explicit Rejecter(Metrics& metrics) : metrics_(metrics) {}
  ~Rejecter() { stop(); }
  Rejecter(const Rejecter&) = delete;
  Rejecter& operator=(const Rejecter&) = delete;

  // Answers 503 and takes the socket.  Never blocks: the 503 fits in an
  // empty socket buffer.  Any thread (the accept loop, goroutine or not).
  void reject(netpoll::Conn& c);

  // Answers 503 (saying `why`) and closes at once, without lingering: for
  // when descriptors ran out, and holding one for a second is what the
  // server cannot afford.  Reads what the client has already sent first, so
  // that the close sends no RST over it in the usual case (the request
  // arrived before the accept).  Never blocks.
  void refuse_now(netpoll::Conn& c, std::string_view why);

  // Waits for the sockets still lingering (at most kRejectLinger) and ends
  // the thread.  Idempotent; not on a goroutine worker.
  void stop();

 private:
  void linger_loop();

  struct Lingering {
    netpoll::Conn conn;
    netpoll::Deadline until;
  };
  Metrics& metrics_;
  std::mutex mu_;
  std::vector<Lingering> lingering_;
  std::thread thread_;  // started by the first reject()
  bool stop_ = false;
};

}  // namespace goro::http::detail
