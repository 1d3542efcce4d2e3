/// \file
/// Read-only files, opened without escaping a root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

namespace goro::netpoll {

/// A regular file opened for reading below a root directory (the server's
/// static files).  Closed on destruction.
class File {
 public:
  /// Not open.
  File() = default;
  /// Takes o's descriptor; o is left closed.
  File(File&& o) noexcept : fd_(o.fd_), size_(o.size_) { o.fd_ = -1; }
  /// Closes this file, then takes o's descriptor.
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }

  /// Opens `relpath` below the directory `root_fd` for reading.  The path may
  /// not leave the root, by ".." or by a symlink (openat2 RESOLVE_BENEATH; a
  /// realpath check where the kernel lacks openat2).  Returns 0, -EXDEV when
  /// the path escapes, -EISDIR for a directory, or another -errno.
  int open_beneath(int root_fd, const char* relpath);

  /// Reads up to buf.size() bytes at `offset`.  Count (0 = end) or -errno.
  ssize_t pread(std::span<char> buf, uint64_t offset);

  /// The file's size in bytes when it was opened.
  uint64_t size() const { return size_; }
  /// True while the File owns a descriptor.
  bool is_open() const { return fd_ >= 0; }
  /// Closes the file (idempotent).
  void close();

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace goro::netpoll
