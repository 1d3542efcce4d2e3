// Starts the real goro binary on 127.0.0.1 with --port 0 and learns the port
// from its log, as a user (or the load-test harness) would.
//
// The mode comes from GORO_TEST_MODE (thread, pool, ...), so one test file
// runs against every mode: CTest registers it once per mode.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace goro::test {

// The mode under test: $GORO_TEST_MODE, default "thread".
std::string test_mode();

class ServerProcess {
 public:
  // `args` are added after --mode/--bind/--port/--log-level.  Waits until
  // the log reports the port; throws, with the log, if the server exits
  // first or does not report it within 30 s (a bound on failure only).
  // `max_fds` > 0 sets the server's RLIMIT_NOFILE (soft and hard), to run
  // it out of descriptors.
  explicit ServerProcess(std::vector<std::string> args = {}, int max_fds = 0);
  ~ServerProcess();  // SIGKILL if it still runs
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Descriptors the server has open now (/proc/<pid>/fd) numbered below
  // `below`, or -1.  (Inherited descriptors may sit above a lowered
  // RLIMIT_NOFILE; only those below it compete for new ones.)
  int open_fds(int below = INT_MAX) const;
  void signal(int sig);
  // Waits for exit (a pidfd, no polling); returns the exit code, 128+signal
  // if killed, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;
  // True once the log contains `text` (the log is read by another thread,
  // so a line written just now may take a moment to arrive); false if it
  // does not within `timeout` or the log ends without it.
  bool wait_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  int log_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable log_grew_;  // notified on every read and at EOF
  std::string log_;                           // guarded by mu_
  bool log_ended_ = false;                    // guarded by mu_: EOF, the server closed stderr (exited)
};

}  // namespace goro::test
