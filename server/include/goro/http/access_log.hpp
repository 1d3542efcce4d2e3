/// \file
/// An access log that neither serializes requests
/// nor blocks a worker on the disk.
///
/// Each thread formats lines into its own buffer, with no lock.  When 32 KiB
/// have gathered, or it logs again a second after its last hand-off, it hands
/// the bytes to one writer thread (a brief lock to queue them, no I/O), which
/// does the write(2) (O_APPEND).  So a goroutine worker never waits on the
/// disk, as the runtime requires (runtime/README.md, "What may block a worker
/// thread").  If the writer falls behind by more than 8 MiB, new hand-offs are
/// dropped and counted (dropped_lines()) rather than growing memory without
/// bound.  A thread's buffer is handed off when the thread exits, and
/// flush_all() takes every buffer and waits until the writer has written
/// everything: nothing is lost in normal operation.  A line can lag its
/// request by up to a second on a busy thread (until shutdown on an idle one).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "goro/http/request.hpp"

namespace goro::http {

/// An access log written by one writer thread from per-thread buffers
/// (see access_log.hpp).
class AccessLog {
 public:
  /// Opens `path` for appending ("-" is stdout) and starts the writer thread.
  /// Throws std::runtime_error.  The log must outlive every thread that
  /// records to it (the server keeps it for the life of the process).
  explicit AccessLog(const std::string& path);
  /// flush_all(), then stops the writer.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  /// Appends one line for a served request to the calling thread's buffer.
  /// Any thread or goroutine; never blocks on I/O, takes no lock unless it
  /// hands its buffer off.
  void record(std::string_view peer, const Request& req, int status, uint64_t bytes,
              std::chrono::steady_clock::duration took);

  /// Hands off every thread's buffer and waits until all of it is written.
  /// Only once no thread records any more (after the server's drain), and
  /// not on a goroutine worker (it waits for the writer).
  void flush_all();
  /// Waits until what was already handed off is written; leaves threads'
  /// buffers alone (safe while others still record).  Not on a goroutine
  /// worker.
  void sync();

  /// Lines dropped because the writer fell too far behind.
  uint64_t dropped_lines() const { return dropped_.load(std::memory_order_relaxed); }

  /// A thread's lines not yet handed off; one per thread (defined in
  /// server/src/access_log.cpp).
  struct Buffer;
  /// Hands off and frees a thread's buffer; called when the thread exits.
  static void release(Buffer* b);

 private:
  friend struct Buffer;
  Buffer& local();
  void hand_off(Buffer& b);         // by b's thread
  void enqueue_locked(Buffer& b, bool may_drop);  // under mu_
  void enqueue_chunk_locked(std::string chunk, bool may_drop);  // under mu_
  void writer_loop();
  void write_out(const std::string& chunk);

  int fd_;
  bool owns_fd_;
  std::atomic<uint64_t> dropped_{0};
  // mu_ guards everything below.  Held only to queue or take chunks and to
  // (un)register buffers, never across a write(2).
  std::mutex mu_;
  std::condition_variable work_;     // queue_ grew, or stop_
  std::condition_variable written_;  // the writer finished a batch
  std::vector<Buffer*> buffers_;     // every live thread's buffer
  std::deque<std::string> queue_;    // handed off, not yet written
  size_t queued_bytes_ = 0;
  bool writing_ = false;  // the writer holds a batch it took from queue_
  bool stop_ = false;
  std::thread writer_;  // last: it starts in the constructor
};

}  // namespace goro::http
