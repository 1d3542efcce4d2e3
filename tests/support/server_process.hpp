// Starts the real goro binary on 127.0.0.1 with --port 0 and learns the port
// from its log, as a user (or the load-test harness) would.
//
// The mode comes from GORO_TEST_MODE (thread, pool, ...), so one test file
// runs against every mode: CTest registers it once per mode.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace goro::test {

// The mode under test: $GORO_TEST_MODE, default "thread".
std::string test_mode();

class ServerProcess {
 public:
  // `args` are added after --mode/--bind/--port/--log-level.  Throws if the
  // server does not report its port within 10 s (the log is in the message).
  explicit ServerProcess(std::vector<std::string> args = {});
  ~ServerProcess();  // SIGKILL if it still runs
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, or -1 on
  // timeout.
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;
  // True once the log contains `text` (the log is read by another thread,
  // so a line written just now may take a moment to arrive).
  bool wait_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Number of OS threads the server has now (/proc/PID/status).
  int threads() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  int log_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string log_;
};

}  // namespace goro::test
