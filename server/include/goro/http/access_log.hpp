// goro/http/access_log.hpp — an access log that does not serialize requests.
//
// Each thread formats lines into its own buffer and writes it with one
// write(2) (O_APPEND) when 32 KiB have gathered, when it logs again a second
// after its last write, when the thread exits, and at flush_all().  No lock
// is shared between threads on the hot path; the per-buffer mutex is taken
// only by its owner and by flush_all().  A line can therefore lag the
// request by up to a second on a busy thread (until shutdown on an idle one).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "goro/http/request.hpp"

namespace goro::http {

class AccessLog {
 public:
  // Opens `path` for appending ("-" is stdout).  Throws std::runtime_error.
  // The log must outlive every thread that records to it (the server keeps it
  // for the life of the process).
  explicit AccessLog(const std::string& path);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void record(std::string_view peer, const Request& req, int status, uint64_t bytes,
              std::chrono::steady_clock::duration took);
  void flush_all();

  struct Buffer;  // one per thread
  // Flushes and frees a thread's buffer; called when the thread exits.
  static void release(Buffer* b);

 private:
  friend struct Buffer;
  Buffer& local();
  void write_out(Buffer& b);

  int fd_;
  bool owns_fd_;
  std::mutex mu_;                // guards buffers_
  std::vector<Buffer*> buffers_;
};

}  // namespace goro::http
