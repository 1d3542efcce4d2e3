#include "goro/netpoll/file.hpp"

#include "backend.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

namespace goro::netpoll {

namespace {

// Where the kernel lacks openat2 (before 5.6): open, then compare the
// resolved path with the root's.  Racy against a concurrent rename, which is
// why openat2 comes first.
int open_checked_by_realpath(int root_fd, const char* relpath) {
  char root[PATH_MAX], target[PATH_MAX];
  std::string self = "/proc/self/fd/" + std::to_string(root_fd);
  ssize_t n = ::readlink(self.c_str(), root, sizeof root - 1);
  if (n < 0) return -errno;
  root[n] = '\0';
  int fd = ::openat(root_fd, relpath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  std::string me = "/proc/self/fd/" + std::to_string(fd);
  ssize_t m = ::readlink(me.c_str(), target, sizeof target - 1);
  if (m < 0) {
    ::close(fd);
    return -EXDEV;
  }
  target[m] = '\0';
  size_t rl = std::strlen(root);
  bool inside = std::strncmp(root, target, rl) == 0 && (target[rl] == '/' || (rl == 1 && root[0] == '/'));
  if (!inside) {
    ::close(fd);
    return -EXDEV;
  }
  return fd;
}

}  // namespace

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    size_ = o.size_;
    o.fd_ = -1;
  }
  return *this;
}

int File::open_beneath(int root_fd, const char* relpath) {
  close();
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, relpath, &how, sizeof how));
  if (fd < 0) {
    if (errno != ENOSYS) return -errno;
    fd = open_checked_by_realpath(root_fd, relpath);
    if (fd < 0) return fd;
  }
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
  }
  fd_ = fd;
  size_ = static_cast<uint64_t>(st.st_size);
  return 0;
}

ssize_t File::pread(std::span<char> buf, uint64_t offset) {
  if (auto* b = detail::current_backend()) return b->pread(fd_, buf.data(), buf.size(), offset);
  for (;;) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

void File::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace goro::netpoll
