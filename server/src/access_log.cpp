// The access log: see goro/http/access_log.hpp.
//
// Invariants: a Buffer's `data` and `last_hand_off` are touched only by its
// thread — except by flush_all() (documented to run once nothing records)
// and by release() as the thread exits; both hold mu_, as does every use of
// buffers_, queue_, queued_bytes_, writing_ and stop_.  Only the writer
// thread calls write(2).
#include "goro/http/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <stdexcept>

namespace goro::http {

namespace {
// One hand-off per 32 KiB: ~200 lines, small enough to bound the loss on a crash.
constexpr size_t kFlushBytes = 32 * 1024;
constexpr auto kFlushAge = std::chrono::seconds(1);
// Beyond this much waiting for the writer, hand-offs are dropped.
constexpr size_t kMaxQueuedBytes = 8 << 20;
}  // namespace

struct AccessLog::Buffer {
  AccessLog* owner = nullptr;
  fmt::memory_buffer data;
  std::chrono::steady_clock::time_point last_hand_off = std::chrono::steady_clock::now();
};

namespace {
// Unregisters and hands off this thread's buffer when the thread exits.
struct LocalSlot {
  AccessLog::Buffer* buf = nullptr;
  ~LocalSlot() {
    if (buf) AccessLog::release(buf);
  }
};
thread_local LocalSlot tls_slot;
}  // namespace

AccessLog::AccessLog(const std::string& path) {
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
  } else {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open access log {}: {}", path, std::strerror(errno)));
    owns_fd_ = true;
  }
  writer_ = std::thread([this] { writer_loop(); });
}

AccessLog::~AccessLog() {
  flush_all();
  {
    std::lock_guard lk(mu_);
    for (Buffer* b : buffers_) b->owner = nullptr;
    stop_ = true;
  }
  work_.notify_one();
  writer_.join();
  if (owns_fd_) ::close(fd_);
}

AccessLog::Buffer& AccessLog::local() {
  if (tls_slot.buf && tls_slot.buf->owner == this) return *tls_slot.buf;
  auto* b = new Buffer;
  b->owner = this;
  {
    std::lock_guard lk(mu_);
    buffers_.push_back(b);
  }
  if (tls_slot.buf) release(tls_slot.buf);  // left over from an older log
  tls_slot.buf = b;
  return *b;
}

void AccessLog::release(Buffer* buf) {
  if (AccessLog* log = buf->owner) {
    {
      std::lock_guard lk(log->mu_);
      log->enqueue_locked(*buf, /*may_drop=*/true);
      std::erase(log->buffers_, buf);
    }
    log->work_.notify_one();
  }
  delete buf;
}

void AccessLog::enqueue_locked(Buffer& b, bool may_drop) {
  if (b.data.size() == 0) return;
  enqueue_chunk_locked(std::string(b.data.data(), b.data.size()), may_drop);
  b.data.clear();
  b.last_hand_off = std::chrono::steady_clock::now();
}

void AccessLog::enqueue_chunk_locked(std::string chunk, bool may_drop) {
  if (chunk.empty()) return;
  if (may_drop && queued_bytes_ + chunk.size() > kMaxQueuedBytes) {
    dropped_.fetch_add(static_cast<uint64_t>(std::count(chunk.begin(), chunk.end(), '\n')), std::memory_order_relaxed);
  } else {
    queued_bytes_ += chunk.size();
    queue_.push_back(std::move(chunk));
  }
}

void AccessLog::hand_off(Buffer& b) {
  // Copy the lines before taking mu_: the writer and every other thread's
  // hand-off wait on it.
  std::string chunk(b.data.data(), b.data.size());
  b.data.clear();
  b.last_hand_off = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    enqueue_chunk_locked(std::move(chunk), /*may_drop=*/true);
  }
  work_.notify_one();
}

void AccessLog::writer_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_.wait(lk, [&] { return !queue_.empty() || stop_; });
    if (queue_.empty()) return;  // stopping, and all written
    std::deque<std::string> batch;
    batch.swap(queue_);
    queued_bytes_ = 0;
    writing_ = true;
    lk.unlock();
    for (const std::string& chunk : batch) write_out(chunk);
    lk.lock();
    writing_ = false;
    written_.notify_all();
  }
}

void AccessLog::write_out(const std::string& chunk) {
  size_t off = 0;
  while (off < chunk.size()) {
    ssize_t n = ::write(fd_, chunk.data() + off, chunk.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // a full disk must not take the server down; the lines are lost
    }
    off += static_cast<size_t>(n);
  }
}

void AccessLog::record(std::string_view peer, const Request& req, int status, uint64_t bytes,
                       std::chrono::steady_clock::duration took) {
  Buffer& b = local();
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
  fmt::format_to(std::back_inserter(b.data), "{} - - [{}] \"{} {} HTTP/{}.{}\" {} {} {:.3f}ms\n", peer, when,
                 req.method, req.target, req.version_major, req.version_minor, status, bytes,
                 std::chrono::duration<double, std::milli>(took).count());
  if (b.data.size() >= kFlushBytes || std::chrono::steady_clock::now() - b.last_hand_off >= kFlushAge) hand_off(b);
}

void AccessLog::flush_all() {
  {
    std::lock_guard lk(mu_);
    for (Buffer* b : buffers_) enqueue_locked(*b, /*may_drop=*/false);  // shutting down: keep every line
  }
  sync();
}

void AccessLog::sync() {
  std::unique_lock lk(mu_);
  work_.notify_one();
  written_.wait(lk, [&] { return queue_.empty() && !writing_; });
}

}  // namespace goro::http
