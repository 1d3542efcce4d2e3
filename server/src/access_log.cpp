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
// One write per 32 KiB: ~200 lines, small enough to bound the loss on a crash.
constexpr size_t kFlushBytes = 32 * 1024;
constexpr auto kFlushAge = std::chrono::seconds(1);
}  // namespace

struct AccessLog::Buffer {
  AccessLog* owner = nullptr;
  std::mutex mu;  // owner thread + flush_all only
  fmt::memory_buffer data;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

namespace {
// Unregisters and flushes this thread's buffer when the thread exits.
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
    return;
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open access log {}: {}", path, std::strerror(errno)));
  owns_fd_ = true;
}

AccessLog::~AccessLog() {
  flush_all();
  std::lock_guard lk(mu_);
  for (Buffer* b : buffers_) b->owner = nullptr;
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
    std::lock_guard lk(log->mu_);
    {
      std::lock_guard blk(buf->mu);
      log->write_out(*buf);
    }
    std::erase(log->buffers_, buf);
  }
  delete buf;
}

void AccessLog::write_out(Buffer& b) {
  size_t off = 0;
  while (off < b.data.size()) {
    ssize_t n = ::write(fd_, b.data.data() + off, b.data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // a full disk must not take the server down; the lines are lost
    }
    off += static_cast<size_t>(n);
  }
  b.data.clear();
  b.last_write = std::chrono::steady_clock::now();
}

void AccessLog::record(std::string_view peer, const Request& req, int status, uint64_t bytes,
                       std::chrono::steady_clock::duration took) {
  Buffer& b = local();
  std::lock_guard lk(b.mu);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
  fmt::format_to(std::back_inserter(b.data), "{} - - [{}] \"{} {} HTTP/{}.{}\" {} {} {:.3f}ms\n", peer, when,
                 req.method, req.target, req.version_major, req.version_minor, status, bytes,
                 std::chrono::duration<double, std::milli>(took).count());
  if (b.data.size() >= kFlushBytes || std::chrono::steady_clock::now() - b.last_write >= kFlushAge) write_out(b);
}

void AccessLog::flush_all() {
  std::lock_guard lk(mu_);
  for (Buffer* b : buffers_) {
    std::lock_guard blk(b->mu);
    write_out(*b);
  }
}

}  // namespace goro::http
