// GET /fanout (contract: goro/http/fanout.hpp): N calls to the upstream at
// once, gathered over a channel with select against a deadline.
//
// Lifetimes, the part that is easy to get wrong: the handler may return
// (at its deadline) while calls are still in flight, so nothing a call
// touches may live on the handler's stack.  Each call holds a shared_ptr to
// one Job (the results channel, the URL, the deadline, the Client), the
// channel is buffered for all N results so a call that reports after the
// handler left never blocks, and a call ends by its own deadline, which is
// the handler's.  So every call finishes, sends into a channel nobody reads
// and drops its reference; the last one frees the Job.
#include "goro/http/fanout.hpp"

#include <fmt/format.h>

#include <charconv>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "goro/chan.hpp"
#include "goro/http/client.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"

namespace goro::http {

namespace {

using netpoll::Clock;
using netpoll::Deadline;

constexpr uint64_t kMaxCalls = 100;
constexpr uint64_t kMaxMs = 10'000;  // /sleep's own bound

enum class Outcome : uint8_t { ok, failed, timed_out };

// Go's time.After for goroutines and OS threads alike: one process-wide
// thread closes each registered channel when its deadline comes, which
// wakes a select waiting on it wherever it runs.  The runtime's timers only
// wake sleeping goroutines, and a sleeper per request (a goroutine, or in
// thread mode an OS thread) would outlive every request that ends early.
// Here a request that ends early cancels its entry, so nothing outlives it.
class Alarms {
 public:
  using Key = std::pair<Deadline, uint64_t>;

  static Alarms& instance() {
    static Alarms* a = new Alarms;  // never destroyed: its thread runs until exit
    return *a;
  }

  Key add(Deadline d, goro::Chan<char> ch) {
    std::lock_guard l(mu_);
    Key k{d, next_id_++};
    auto it = pending_.emplace(k, std::move(ch)).first;
    // Deadlines mostly arrive in order (one timeout for every request): the
    // thread needs a nudge only when this one is now the earliest.
    if (it == pending_.begin()) cv_.notify_one();
    return k;
  }

  // Forgets k if it has not fired.
  void cancel(const Key& k) {
    std::lock_guard l(mu_);
    pending_.erase(k);
  }

 private:
  Alarms() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    std::unique_lock l(mu_);
    for (;;) {
      if (pending_.empty()) {
        cv_.wait(l);
        continue;
      }
      // A copy: wait_until reads its deadline again after waking, and a
      // cancel() meanwhile may have freed the entry (ASan caught that).
      Deadline next = pending_.begin()->first.first;
      if (Clock::now() < next) {
        cv_.wait_until(l, next);
        continue;
      }
      goro::Chan<char> due = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      l.unlock();
      due.close();  // readies the waiting goroutine (or thread): not under mu_
      l.lock();
    }
  }

  std::mutex mu_;  // held only to add, cancel or pop: never across a wait for anyone
  std::condition_variable cv_;
  std::map<Key, goro::Chan<char>> pending_;  // guarded by mu_
  uint64_t next_id_ = 0;                     // guarded by mu_
};

// Runs fn concurrently with the caller: a goroutine inside the runtime, an
// OS thread of its own outside it (thread and pool modes).  The thread is
// detached; it is joined, in effect, by the result it sends.  Throws
// std::system_error when no thread can be started.
template <class F>
void start_task(F&& fn) {
  if (goro::in_goroutine()) {
    goro::go(std::forward<F>(fn));
  } else {
    std::thread(std::forward<F>(fn)).detach();
  }
}

// What the N calls of one request share, and outlive the request with.
struct Job {
  goro::Chan<Outcome> results;
  std::string url;
  Deadline deadline;
  std::shared_ptr<Client> client;
};

void call(const std::shared_ptr<Job>& job) {
  ClientResponse r;
  ClientStatus st = job->client->get(job->url, r, job->deadline);
  Outcome o = st.ok() ? (r.status >= 200 && r.status < 300 ? Outcome::ok : Outcome::failed)
              : st.code == ClientErrc::timeout ? Outcome::timed_out
                                               : Outcome::failed;
  job->results.send(o);  // buffered for every call: never waits
}

bool param(const Request& req, std::string_view name, uint64_t lo, uint64_t hi, uint64_t& out) {
  auto v = req.query_param(name);
  if (!v) return false;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  return ec == std::errc{} && end == v->data() + v->size() && !v->empty() && out >= lo && out <= hi;
}

// The upstream URL with {ms} replaced, or ms appended (see FanoutOptions).
std::string with_ms(const std::string& upstream, uint64_t ms) {
  if (size_t at = upstream.find("{ms}"); at != std::string::npos)
    return upstream.substr(0, at) + std::to_string(ms) + upstream.substr(at + 4);
  return fmt::format("{}{}ms={}", upstream, upstream.find('?') == std::string::npos ? '?' : '&', ms);
}

Response fanout(const Request& req, const FanoutOptions& opts, const std::shared_ptr<Client>& client) {
  const auto started = Clock::now();
  uint64_t n, ms;
  if (!param(req, "n", 1, kMaxCalls, n) || !param(req, "ms", 0, kMaxMs, ms))
    return Response::error(400, fmt::format("want ?n=N&ms=M with n from 1 to {} and ms from 0 to {}", kMaxCalls, kMaxMs));

  auto job = std::make_shared<Job>(Job{goro::Chan<Outcome>(n),
                                       opts.upstream.empty() ? fmt::format("{}/sleep?ms={}", opts.self_base(), ms)
                                                             : with_ms(opts.upstream, ms),
                                       started + opts.timeout, client});
  for (uint64_t i = 0; i < n; ++i) {
    try {
      start_task([job] { call(job); });
    } catch (const std::system_error&) {  // no thread to be had: this call fails, the others go on
      job->results.send(Outcome::failed);
    }
  }

  // Gather until all are back or the deadline channel closes.
  goro::Chan<char> deadline;
  const Alarms::Key alarm = Alarms::instance().add(job->deadline, deadline);
  uint64_t counts[3] = {0, 0, 0};  // by Outcome
  uint64_t got = 0;
  for (; got < n; ++got) {
    std::optional<Outcome> o;
    std::optional<char> tick;
    if (goro::select(goro::on_recv(job->results, o), goro::on_recv(deadline, tick)) == 1) break;
    ++counts[static_cast<int>(*o)];
  }
  Alarms::instance().cancel(alarm);
  const uint64_t ok = counts[0], failed = counts[1], timed_out = counts[2] + (n - got);

  Response r;
  r.status = timed_out > 0 ? 504 : failed > 0 ? 502 : 200;
  r.content_type = "application/json";
  r.body = fmt::format("{{\"n\":{},\"ms\":{},\"ok\":{},\"failed\":{},\"timed_out\":{},\"elapsed_ms\":{:.1f}}}\n", n,
                       ms, ok, failed, timed_out,
                       std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  return r;
}

}  // namespace

std::string check_fanout_upstream(const std::string& url) {
  if (url.find('#') != std::string::npos) return url + ": a fragment cannot take ms=";
  Url u;
  ClientStatus st = Url::parse(with_ms(url, 0), u);
  return st.ok() ? std::string() : st.message;
}

std::string loopback_base(const std::string& bind, int port) {
  if (bind.empty() || bind == "0.0.0.0") return fmt::format("http://127.0.0.1:{}", port);
  if (bind == "::") return fmt::format("http://[::1]:{}", port);
  if (bind.find(':') != std::string::npos) return fmt::format("http://[{}]:{}", bind, port);
  return fmt::format("http://{}:{}", bind, port);
}

void add_fanout_routes(Router& r, FanoutOptions opts) {
  if (!opts.upstream.empty()) {
    if (std::string why = check_fanout_upstream(opts.upstream); !why.empty()) throw std::invalid_argument(why);
  } else if (!opts.self_base) {
    throw std::invalid_argument("fanout: no upstream and no self_base");
  }
  ClientOptions co;
  co.max_idle_per_host = opts.max_idle_per_host;
  auto client = std::make_shared<Client>(co);
  r.add({"GET"}, "/fanout", [opts = std::move(opts), client](const Request& req, const Context&) {
    return fanout(req, opts, client);
  });
}

}  // namespace goro::http
