#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
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

ServerProcess::ServerProcess(std::vector<std::string> args) {
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
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  log_fd_ = pipefd[0];
  // Drain the log continuously so the server never blocks on a full pipe.
  reader_ = std::thread([this] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(log_fd_, buf, sizeof buf)) > 0) {
      std::lock_guard lk(mu_);
      log_.append(buf, static_cast<size_t>(n));
    }
  });
  static const std::regex re(R"(listening on 127\.0\.0\.1:(\d+))");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    std::string l = log();
    if (std::regex_search(l, m, re)) {
      port_ = std::stoi(m[1]);
      return;
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string l = log();
  if (pid_ > 0) ::kill(pid_, SIGKILL), ::waitpid(pid_, nullptr, 0), pid_ = -1;
  if (reader_.joinable()) reader_.join();
  throw std::runtime_error("goro did not start (mode " + test_mode() + "); its log:\n" + l);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && exit_code_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
}

void ServerProcess::signal(int sig) {
  if (pid_ > 0 && exit_code_ < 0) ::kill(pid_, sig);
}

int ServerProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_ >= 0) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::string ServerProcess::log() const {
  std::lock_guard lk(mu_);
  return log_;
}

bool ServerProcess::wait_log(const std::string& text, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int ServerProcess::threads() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

}  // namespace goro::test
