// goro-bench — goroutine vs OS-thread microbenchmarks (Google Benchmark).
//
//   build/bench/goro-bench                              # table
//   build/bench/goro-bench --benchmark_format=json      # for the load-test harness
//   build/bench/goro-bench --benchmark_filter=chan      # one family
//
// Every goroutine benchmark has an OS-thread counterpart in the same run; the
// names are stable (the harness keys on them):
//
//   BM_goro_spawn_batch/1000000   spawn 1e6 goroutines, then wait for all;
//                                 counter ns_per_goroutine
//   BM_thread_spawn_batch/1000    create 1000 std::threads, then join all;
//                                 counter ns_per_thread
//   BM_goro_spawn_one             spawn one goroutine and wait for it
//   BM_thread_spawn_one           create one std::thread and join it
//   BM_goro_yield_alone           goro::yield() with nothing else runnable
//   BM_thread_yield_alone         sched_yield()
//   BM_goro_yield_pingpong        two goroutines yielding to each other, one P;
//                                 time per round trip
//   BM_thread_yield_pingpong      two threads pinned to one CPU taking turns
//                                 with sched_yield; time per round trip
//   BM_goro_chan_pingpong         unbuffered Chan<int> round trip between two
//                                 goroutines (2 Ps)
//   BM_thread_chan_pingpong       the same Chan<int> between two OS threads
//                                 (futex wakeups, unpinned)
//   BM_goro_parked_rss/100000     100,000 goroutines parked on a channel;
//                                 counter rss_bytes_per_goroutine
//   BM_thread_parked_rss/1000     1,000 threads blocked on a channel;
//                                 counter rss_bytes_per_thread
//   BM_goro_stack_touched         stack bytes a fresh goroutine touches doing
//                                 typical work (formatting, throw/catch, a
//                                 std::map, iostream): what the 256 KiB
//                                 default stack size is measured against
//
// All use real time.  Goroutine benchmarks run inside goro::run with
// procs = 2 (this machine's cores, Go's GOMAXPROCS=2) unless noted.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <cstdio>
#include <thread>
#include <vector>

#include "goro/chan.hpp"
#include "goro/stats.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"

namespace {

long rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

using Clock = std::chrono::steady_clock;

// A plain counter in nanoseconds per item (the JSON field holds ns, not an
// inverted rate in seconds), from the wall time spent in the timed loop.
void per_item_counter(benchmark::State& state, const char* name, Clock::duration spent, double items) {
  double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(spent).count());
  state.counters[name] = ns / (static_cast<double>(state.iterations()) * items);
}

// ---- spawn ----------------------------------------------------------------------

void BM_goro_spawn_batch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Clock::duration spent{};
  goro::run([&] {
    for (auto _ : state) {
      auto t0 = Clock::now();
      goro::WaitGroup wg;
      wg.add(n);
      for (int i = 0; i < n; i++) goro::go([&wg] { wg.done(); });
      wg.wait();
      spent += Clock::now() - t0;
    }
  }, {.procs = 2});
  per_item_counter(state, "ns_per_goroutine", spent, n);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_goro_spawn_batch)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_thread_spawn_batch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Clock::duration spent{};
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    ts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; i++) ts.emplace_back([] {});
    for (auto& t : ts) t.join();
    spent += Clock::now() - t0;
  }
  per_item_counter(state, "ns_per_thread", spent, n);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_thread_spawn_batch)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_goro_spawn_one(benchmark::State& state) {
  goro::run([&] {
    for (auto _ : state) {
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&wg] { wg.done(); });
      wg.wait();
    }
  }, {.procs = 2});
}
BENCHMARK(BM_goro_spawn_one)->UseRealTime();

void BM_thread_spawn_one(benchmark::State& state) {
  for (auto _ : state) std::thread([] {}).join();
}
BENCHMARK(BM_thread_spawn_one)->UseRealTime();

// ---- yield ----------------------------------------------------------------------

void BM_goro_yield_alone(benchmark::State& state) {
  goro::run([&] {
    for (auto _ : state) goro::yield();
  }, {.procs = 1});
}
BENCHMARK(BM_goro_yield_alone)->UseRealTime();

void BM_thread_yield_alone(benchmark::State& state) {
  for (auto _ : state) sched_yield();
}
BENCHMARK(BM_thread_yield_alone)->UseRealTime();

void BM_goro_yield_pingpong(benchmark::State& state) {
  goro::run([&] {
    std::atomic<bool> stop{false};
    goro::WaitGroup wg;
    wg.add(1);
    goro::go([&] {
      while (!stop.load(std::memory_order_relaxed)) goro::yield();
      wg.done();
    });
    goro::yield();
    for (auto _ : state) goro::yield();  // to the other and back: one round trip
    stop = true;
    wg.wait();
  }, {.procs = 1});
}
BENCHMARK(BM_goro_yield_pingpong)->UseRealTime();

void pin_to_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void BM_thread_yield_pingpong(benchmark::State& state) {
  std::atomic<int> turn{0};
  std::atomic<bool> stop{false};
  cpu_set_t old;
  pthread_getaffinity_np(pthread_self(), sizeof old, &old);
  pin_to_cpu0();
  std::thread other([&] {
    pin_to_cpu0();
    while (!stop.load(std::memory_order_relaxed)) {
      if (turn.load(std::memory_order_acquire) == 1) {
        turn.store(0, std::memory_order_release);
      } else {
        sched_yield();
      }
    }
  });
  for (auto _ : state) {
    turn.store(1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) == 1) sched_yield();
  }
  stop = true;
  other.join();
  pthread_setaffinity_np(pthread_self(), sizeof old, &old);
}
BENCHMARK(BM_thread_yield_pingpong)->UseRealTime();

// ---- channels -------------------------------------------------------------------

void BM_goro_chan_pingpong(benchmark::State& state) {
  goro::run([&] {
    goro::Chan<int> ping, pong;
    goro::WaitGroup wg;  // the echo goroutine uses ping after our last recv: join it
    wg.add(1);
    goro::go([&] {
      while (auto v = ping.recv()) pong.send(*v);
      wg.done();
    });
    for (auto _ : state) {
      ping.send(1);
      pong.recv();
    }
    ping.close();
    wg.wait();
  }, {.procs = 2});
}
BENCHMARK(BM_goro_chan_pingpong)->UseRealTime();

void BM_thread_chan_pingpong(benchmark::State& state) {
  goro::Chan<int> ping, pong;
  std::thread other([&] {
    while (auto v = ping.recv()) pong.send(*v);
  });
  for (auto _ : state) {
    ping.send(1);
    pong.recv();
  }
  ping.close();
  other.join();
}
BENCHMARK(BM_thread_chan_pingpong)->UseRealTime();

// ---- memory per parked goroutine / thread -----------------------------------------

void BM_goro_parked_rss(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double per = 0;
  for (auto _ : state) {
    goro::run([&] {
      goro::Chan<int> never;
      goro::WaitGroup started, done;
      // Warm up: stacks and G objects of earlier runs are gone, the heap is warm.
      long before = rss_bytes();
      started.add(n);
      done.add(n);
      for (int i = 0; i < n; i++) {
        goro::go([&] {
          started.done();
          never.recv();
          done.done();
        });
      }
      started.wait();
      long after = rss_bytes();
      per = static_cast<double>(after - before) / n;
      never.close();
      done.wait();
    }, {.procs = 2});
  }
  state.counters["rss_bytes_per_goroutine"] = per;
}
BENCHMARK(BM_goro_parked_rss)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_thread_parked_rss(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double per = 0;
  for (auto _ : state) {
    goro::Chan<int> never;
    goro::WaitGroup started;
    long before = rss_bytes();
    started.add(n);
    std::vector<std::thread> ts;
    for (int i = 0; i < n; i++) {
      ts.emplace_back([&] {
        started.done();
        never.recv();
      });
    }
    started.wait();
    long after = rss_bytes();
    per = static_cast<double>(after - before) / n;
    never.close();
    for (auto& t : ts) t.join();
  }
  state.counters["rss_bytes_per_thread"] = per;
}
BENCHMARK(BM_thread_parked_rss)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- stack depth --------------------------------------------------------------------

// Resident pages of the running goroutine's stack below `top`, counted with
// mincore: a fresh stack (first run in a process) is only resident where it
// was touched.
[[gnu::noinline]] long touched_below(std::uintptr_t top) {
  const long ps = sysconf(_SC_PAGESIZE);
  long pages = 0;
  for (std::uintptr_t a = top - static_cast<std::uintptr_t>(ps); a > top - 256 * 1024; a -= static_cast<std::uintptr_t>(ps)) {
    unsigned char v = 0;
    if (mincore(reinterpret_cast<void*>(a), static_cast<std::size_t>(ps), &v) != 0) break;
    if (v & 1) pages++;
  }
  return (pages + 1) * ps;  // + the top page
}

[[gnu::noinline]] std::string typical_work(int depth) {
  if (depth > 0) return typical_work(depth - 1);
  std::map<std::string, int> m;
  for (int i = 0; i < 50; i++) m[std::to_string(i)] = i;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %d %.3f", "x", 42, 3.14159);
  std::ostringstream os;
  os << buf << ' ' << m.size() << ' ' << 2.5;
  try {
    throw std::runtime_error(os.str());
  } catch (const std::exception& e) {
    return e.what();
  }
}

void BM_goro_stack_touched(benchmark::State& state) {
  long bytes = 0;
  for (auto _ : state) {
    goro::run([&] {
      goro::WaitGroup wg;
      wg.add(1);
      goro::go([&] {
        char here;
        auto top = (reinterpret_cast<std::uintptr_t>(&here) | 4095) + 1;
        benchmark::DoNotOptimize(typical_work(8));
        bytes = touched_below(top);
        wg.done();
      });
      wg.wait();
    }, {.procs = 1});
  }
  state.counters["stack_bytes_touched"] = static_cast<double>(bytes);
}
BENCHMARK(BM_goro_stack_touched)->Iterations(1)->UseRealTime();

}  // namespace

// ---- goroutine dump with stacks --------------------------------------------------

// dump_goroutines(true) of 10,000 goroutines parked on channels: holding
// each while its stack is copied, then symbolizing (libdw; the first dump
// of a process also reads the debug info, outside the timing here).
void BM_goro_dump_stacks(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  goro::run([&] {
    goro::Chan<int> ch;
    goro::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; i++)
      goro::go([ch, &wg] {
        ch.recv();
        wg.done();
      });
    while (goro::stats().parks < static_cast<std::uint64_t>(n)) goro::yield();
    benchmark::DoNotOptimize(goro::dump_goroutines(true));
    std::size_t bytes = 0;
    for (auto _ : state) bytes = goro::dump_goroutines(true).size();
    state.counters["bytes"] = static_cast<double>(bytes);
    ch.close();
    wg.wait();
  }, {.procs = 2});
}
BENCHMARK(BM_goro_dump_stacks)->Arg(10'000)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
