#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#ifndef GORO_BINARY
#error "GORO_BINARY must name the goro executable"
#endif

namespace goro::test {

std::string test_mode() {
  const char* m = std::getenv("GORO_TEST_MODE");
  return m && *m ? m : "thread";
}

ServerProcess::ServerProcess(std::vector<std::string> args, int max_fds) {
  std::vector<std::string> argv_s = {GORO_BINARY, "--mode=" + test_mode(), "--bind", "127.0.0.1", "--port", "0",
                                     "--log-level", "info"};
  // GORO_TEST_ARGS: extra flags for every server of this run, e.g.
  // "--poller=epoll" (space-separated).
  if (const char* extra = std::getenv("GORO_TEST_ARGS")) {
    std::string word;
    for (const char* c = extra;; ++c) {
      if (*c == ' ' || *c == '\0') {
        if (!word.empty()) argv_s.push_back(word);
        word.clear();
        if (!*c) break;
      } else {
        word += *c;
      }
    }
  }
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(pipefd[1], STDERR_FILENO);
    if (max_fds > 0) {
      rlimit rl{static_cast<rlim_t>(max_fds), static_cast<rlim_t>(max_fds)};
      if (::setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        std::fprintf(stderr, "setrlimit(RLIMIT_NOFILE, %d): %s\n", max_fds, std::strerror(errno));
        ::_exit(127);
      }
    }
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  log_fd_ = pipefd[0];
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // readable once the server exits
  // Drain the log continuously so the server never blocks on a full pipe.
  reader_ = std::thread([this] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(log_fd_, buf, sizeof buf)) > 0) {
      std::lock_guard lk(mu_);
      log_.append(buf, static_cast<size_t>(n));
      log_grew_.notify_all();
    }
    std::lock_guard lk(mu_);
    log_ended_ = true;
    log_grew_.notify_all();
  });
  // Until the log names the port, or ends (the server exited).
  static const std::regex re(R"(listening on 127\.0\.0\.1:(\d+))");
  std::smatch m;
  std::string l;
  {
    std::unique_lock lk(mu_);
    log_grew_.wait_for(lk, std::chrono::seconds(30), [&] { return std::regex_search(log_, m, re) || log_ended_; });
    l = log_;
  }
  if (std::regex_search(l, m, re)) {
    port_ = std::stoi(m[1]);
    return;
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (pidfd_ >= 0) ::close(pidfd_);
  throw std::runtime_error("goro did not start (mode " + test_mode() + "); its log:\n" + log());
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && exit_code_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
  if (pidfd_ >= 0) ::close(pidfd_);
}

void ServerProcess::signal(int sig) {
  if (pid_ > 0 && exit_code_ < 0) ::kill(pid_, sig);
}

int ServerProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_ >= 0) return exit_code_;
  if (pid_ <= 0) return -1;
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    if (r == 0) return -1;  // still running
  }
  int status;
  // The pidfd said it exited (or, without pidfd_open, block: the callers
  // bound their wait by the ctest timeout).
  if (::waitpid(pid_, &status, 0) != pid_) return -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

int ServerProcess::open_fds(int below) const {
  if (pid_ <= 0) return -1;
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    if (std::stol(it->path().filename().string()) < below) ++n;
  return ec ? -1 : n;
}

std::string ServerProcess::log() const {
  std::lock_guard lk(mu_);
  return log_;
}

bool ServerProcess::wait_log(const std::string& text, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  log_grew_.wait_for(lk, timeout, [&] { return log_.find(text) != std::string::npos || log_ended_; });
  return log_.find(text) != std::string::npos;
}

}  // namespace goro::test
