// child.hpp — run a body in a forked child and see how it died: for the
// runtime's aborts (broken invariants, stack overflow), which end the process
// and so cannot be observed from inside it.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <functional>
#include <string>

namespace goro::test {

struct Death {
  bool aborted = false;  // killed by SIGABRT
  std::string err;       // everything it wrote to stderr
};

// Runs body in a forked child with stderr captured and stdout discarded;
// returns how the child ended.  A body that returns ends the child with
// exit status 0 (aborted stays false).
inline Death in_child(const std::function<void()>& body) {
  Death d;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGABRT, SIG_DFL);  // not doctest's crash report, in the child
    dup2(fds[1], 2);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    close(fds[0]);
    body();
    _exit(0);
  }
  close(fds[1]);
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) d.err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  d.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return d;
}

}  // namespace goro::test
