// --mode=goroutine: goroutines M:N over --procs workers, each parked on its
// P's netpoll backend (io_uring or epoll).
//
// The accept loop is the main goroutine of goro::run.  An accepted
// connection gets no goroutine: it becomes a Session parked in the poller
// with Conn::when_readable (a wait whose completion runs Session::on_ready
// on the worker instead of readying a goroutine).  When bytes arrive,
// on_ready spawns a goroutine that runs serve_connection with
// detach_when_idle: it serves every request already received and, instead
// of waiting, parks the Session again through ServeOptions::park, handing
// the last answers to the poller to send with the idle wait (on io_uring
// one submission for both, no write syscall); the goroutine exits.  So a
// goroutine exists per request being served, and an idle keep-alive
// connection costs a Session and a Conn, not a stack.
// (Where the re-armed wait lands — this P or a busier one — is netpoll's
// decision: see Conn::when_readable.)
//
// Invariants:
//   * A Session is owned by exactly one party at a time: the poller (armed,
//     from when_readable until on_ready), the goroutine on_ready spawned
//     (serving), or nobody once released — which deletes it.  Its fields are
//     touched only by that owner, so they need no lock.
//   * Every Session's Conn is tracked in the ConnRegistry from accept until
//     the goroutine that saw it end releases it.
//   * on_ready runs on a worker outside any goroutine: it never blocks; it
//     copies the bytes it is lent and spawns.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <span>
#include <stdexcept>
#include <utility>

#include "executor.hpp"
#include "goro/netpoll/poller.hpp"
#include "goro/runtime.hpp"

namespace goro::http::detail {

namespace {

class GoroutineExecutor final : public Executor {
 public:
  explicit GoroutineExecutor(const ExecutorDeps& deps) : deps_(deps) {}

  void prepare(Context& ctx) override {
    const Config& cfg = deps_.env.config;
    poller_ = netpoll::choose_poller(cfg.poller);
    if (cfg.poller == netpoll::PollerKind::uring && !poller_.uring_ok())
      throw std::runtime_error("--poller=uring: io_uring is unavailable: " + poller_.why_not);
    ctx.poller = poller_.kind;
  }

  std::string detail() const override {
    const Config& cfg = deps_.env.config;
    return fmt::format("procs={} poller={}", cfg.procs ? std::to_string(cfg.procs) : std::string("auto"),
                       poller_.detail);
  }

  bool run(const std::function<void()>& accept_loop, const std::function<bool()>& drain) override {
    bool graceful = false;
    goro::Options opts;
    opts.procs = deps_.env.config.procs;
    opts.poller = netpoll::poller_factory(poller_.kind);
    goro::run(
        [&] {
          accept_loop();
          // The drain waits on a condition variable: off the workers.
          graceful = goro::blocking([&drain] { return drain(); });
        },
        std::move(opts));
    return graceful;
  }

  void start(std::unique_ptr<netpoll::Conn> c) override {
    // No goroutine until the first request's bytes arrive.
    auto* s = new Session;
    s->exec = this;
    s->conn = std::move(c);
    s->accepted = netpoll::Clock::now();
    park(s);
  }

 private:
  // A connection between requests (see the invariants above).
  struct Session final : netpoll::Callback {
    GoroutineExecutor* exec;
    std::unique_ptr<netpoll::Conn> conn;
    bool first = true;            // no request served yet: the header timeout applies
    netpoll::Clock::time_point accepted;  // the first request's header deadline runs from here
    std::unique_ptr<char[]> buf;  // bytes the poller read (io_uring), until a goroutine takes them
    size_t buffered = 0;
    void on_ready(int res, std::span<const char> data) override;
  };

  void park(Session* s, std::span<const char> unsent = {});
  void serve(Session* s);
  void release(Session* s) {
    std::unique_ptr<Session> owned(s);
    deps_.conns.release(std::move(owned->conn));
  }

  ExecutorDeps deps_;
  netpoll::PollerChoice poller_{netpoll::PollerKind::automatic, "", ""};
};

// Called by start() and serve(), always in a goroutine under run(), whose
// workers all have a netpoll backend: when_readable always arms there.
void GoroutineExecutor::park(Session* s, std::span<const char> unsent) {
  const Config& cfg = deps_.env.config;
  // The first wait ends at the header deadline, which serve_connection then
  // keeps (it gets `accepted`), so the wait for the first byte and the rest
  // of the headers share one --header-timeout.
  netpoll::Deadline d = s->first ? s->accepted + cfg.header_timeout : netpoll::deadline_in(cfg.idle_timeout);
  if (!s->conn->when_readable(d, &deps_.env.draining, s, unsent, cfg.write_timeout)) {
    std::fputs("goro: goroutine executor: when_readable outside a netpoll goroutine\n", stderr);
    std::abort();
  }
}

// On the worker that reaped the wait: never blocks, only spawns.
void GoroutineExecutor::Session::on_ready(int res, std::span<const char> data) {
  GoroutineExecutor* ex = exec;
  if (!data.empty()) {
    // The poller's buffer is lent for this call only.  The bytes are the
    // client's even when shutdown began meanwhile (-ECANCELED): serve them.
    buf = std::make_unique_for_overwrite<char[]>(data.size());
    buffered = data.size();
    std::memcpy(buf.get(), data.data(), buffered);
  }
  if (res == -ETIMEDOUT) ex->deps_.env.metrics.timeouts.fetch_add(1, std::memory_order_relaxed);
  if (res < 0 && res != -ECANCELED) {
    // Idle too long (or the socket failed): close without a word.
    goro::go([ex, this] { ex->release(this); });
    return;
  }
  // Readable, or shutting down (serve_connection then serves a request that
  // already arrived, or closes).
  goro::go([ex, this] { ex->serve(this); });
}

// In the goroutine on_ready spawned: serves what arrived, then parks the
// session again (idle) or releases it (closed).
void GoroutineExecutor::serve(Session* s) {
  ConnEnd end = serve_connection(*s->conn, deps_.env,
                                 {.detach_when_idle = true,
                                  .resumed = true,
                                  .first = s->first,
                                  .accepted = s->accepted,
                                  .buf = std::move(s->buf),
                                  .buffered = std::exchange(s->buffered, 0),
                                  // The last answers go out with the idle wait.
                                  .park = [this, s](std::span<const char> unsent) {
                                    s->first = false;
                                    park(s, unsent);
                                  }});
  if (end == ConnEnd::parked) return;  // the poller owns s now
  s->first = false;
  if (end == ConnEnd::idle) return park(s);
  release(s);
}

}  // namespace

std::unique_ptr<Executor> make_goroutine_executor(const ExecutorDeps& deps) {
  return std::make_unique<GoroutineExecutor>(deps);
}

}  // namespace goro::http::detail
