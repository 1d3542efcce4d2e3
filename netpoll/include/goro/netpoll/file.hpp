// goro/netpoll/file.hpp — read-only files, opened without escaping a root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

namespace goro::netpoll {

class File {
 public:
  File() = default;
  File(File&& o) noexcept : fd_(o.fd_), size_(o.size_) { o.fd_ = -1; }
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }

  // Opens `relpath` below the directory `root_fd` for reading.  The path may
  // not leave the root, by ".." or by a symlink (openat2 RESOLVE_BENEATH; a
  // realpath check where the kernel lacks openat2).  Returns 0, -EXDEV when
  // the path escapes, -EISDIR for a directory, or another -errno.
  int open_beneath(int root_fd, const char* relpath);

  // Reads up to buf.size() bytes at `offset`.  Count (0 = end) or -errno.
  ssize_t pread(std::span<char> buf, uint64_t offset);

  uint64_t size() const { return size_; }
  bool is_open() const { return fd_ >= 0; }
  void close();

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace goro::netpoll
