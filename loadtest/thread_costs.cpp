// goro-thread-costs — what an OS thread costs on this machine, measured directly.
//
//   goro-thread-costs                 # full: ~2 s on an idle 2-core machine
//   goro-thread-costs --quick         # fewer iterations, for loadtest/compare --quick
//   goro-thread-costs --blocked 5000  # stack cost measured with 5,000 blocked threads
//
// What it shows (one JSON object on stdout, read by loadtest/compare for the report's
// "The claims, measured" section — the thread side of each goroutine-vs-thread claim):
//   create_join_ns       pthread_create + pthread_join of a thread that returns at once
//   switch_*_ns          one hand-off between two threads (half a ping-pong round trip)
//                        over a futex and over a pipe, both threads pinned to one CPU
//                        (a pure context switch each way) and unpinned (the scheduler
//                        may put them on two CPUs: that adds a cross-CPU wake-up)
//   stack_*              N threads blocked on a futex with the default stack size:
//                        virtual memory reserved vs resident memory committed per thread
//   regs_*               what a kernel thread switch saves: the general registers of
//                        struct pt_regs and the XSAVE area for the enabled FP/vector
//                        features (CPUID leaf 0xD); a cooperative switch needs only the
//                        System V callee-saved registers
//
// Every figure is a median of several batches because the machines here are shared.

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <asm/ptrace.h>
#include <cpuid.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

long futex(std::atomic<uint32_t>* addr, int op, uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op | FUTEX_PRIVATE_FLAG, val, nullptr,
                 nullptr, 0);
}

void pin_to_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);  // best effort: unpinned numbers still come out
}

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
  sched_setaffinity(0, sizeof set, &set);
}

void* noop(void*) { return nullptr; }

// ns per pthread_create + pthread_join of a thread that returns immediately.
double create_join_ns(int batches, int per_batch) {
  std::vector<double> r;
  for (int b = 0; b < batches; ++b) {
    auto t0 = Clock::now();
    for (int i = 0; i < per_batch; ++i) {
      pthread_t t;
      if (pthread_create(&t, nullptr, noop, nullptr) != 0) return -1;
      pthread_join(t, nullptr);
    }
    r.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / per_batch);
  }
  return median(r);
}

// Futex ping-pong: `turn` says whose move it is; each side waits until it is its
// turn, flips it and wakes the other.  Returns ns per one-way hand-off.
double futex_switch_ns(bool pinned, int batches, int rounds) {
  std::vector<double> r;
  for (int b = 0; b < batches; ++b) {
    std::atomic<uint32_t> turn{0};
    auto side = [&](uint32_t me) {
      if (pinned) pin_to_cpu0(); else unpin();
      for (int i = 0; i < rounds; ++i) {
        while (turn.load(std::memory_order_acquire) != me) futex(&turn, FUTEX_WAIT, 1 - me);
        turn.store(1 - me, std::memory_order_release);
        futex(&turn, FUTEX_WAKE, 1);
      }
    };
    auto t0 = Clock::now();
    std::thread other(side, 1u);
    side(0u);
    other.join();
    r.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (2.0 * rounds));
  }
  unpin();
  return median(r);
}

// Pipe ping-pong: one byte each way through two pipes (blocking read/write).
double pipe_switch_ns(bool pinned, int batches, int rounds) {
  std::vector<double> r;
  for (int b = 0; b < batches; ++b) {
    int ab[2], ba[2];
    if (pipe(ab) != 0 || pipe(ba) != 0) return -1;
    auto t0 = Clock::now();
    std::thread other([&] {
      if (pinned) pin_to_cpu0(); else unpin();
      char c;
      for (int i = 0; i < rounds; ++i) {
        if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) break;
      }
    });
    if (pinned) pin_to_cpu0(); else unpin();
    char c = 'x';
    for (int i = 0; i < rounds; ++i) {
      if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) break;
    }
    other.join();
    r.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (2.0 * rounds));
    for (int fd : {ab[0], ab[1], ba[0], ba[1]}) close(fd);
  }
  unpin();
  return median(r);
}

// kB value of a "Key:   123 kB" line of /proc/self/status.
long status_kb(std::string_view key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':')
      return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

long map_count() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

struct StackCost {
  int threads = 0;
  size_t default_stack = 0;
  double virt_kb = 0, rss_kb = 0, maps = 0;
};

// Start n threads with the default attributes that block on a futex, then read
// the process's VmSize/VmRSS and its memory-map count against the baseline.
StackCost blocked_threads(int n) {
  StackCost s;
  pthread_attr_t attr;
  pthread_getattr_default_np(&attr);
  pthread_attr_getstacksize(&attr, &s.default_stack);
  pthread_attr_destroy(&attr);

  std::atomic<uint32_t> release{0};
  std::atomic<int> parked{0};
  const long virt0 = status_kb("VmSize"), rss0 = status_kb("VmRSS"), maps0 = map_count();
  std::vector<pthread_t> ts;
  struct Arg {
    std::atomic<uint32_t>* release;
    std::atomic<int>* parked;
  } arg{&release, &parked};
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    auto body = [](void* p) -> void* {
      auto* a = static_cast<Arg*>(p);
      a->parked->fetch_add(1);
      while (a->release->load() == 0) futex(a->release, FUTEX_WAIT, 0);
      return nullptr;
    };
    if (pthread_create(&t, nullptr, body, &arg) != 0) break;
    ts.push_back(t);
  }
  while (parked.load() < static_cast<int>(ts.size())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.threads = static_cast<int>(ts.size());
  if (s.threads > 0) {
    s.virt_kb = double(status_kb("VmSize") - virt0) / s.threads;
    s.rss_kb = double(status_kb("VmRSS") - rss0) / s.threads;
    s.maps = double(map_count() - maps0) / s.threads;
  }
  release.store(1);
  futex(&release, FUTEX_WAKE, INT32_MAX);
  for (auto t : ts) pthread_join(t, nullptr);
  return s;
}

struct Regs {
  int ptregs_words = 0;      // general registers the kernel saves on entry
  unsigned xsave_bytes = 0;  // XSAVE area for the features enabled in XCR0
  unsigned long long xcr0 = 0;
};

Regs regs() {
  Regs r;
#if defined(__x86_64__)
  r.ptregs_words = static_cast<int>(sizeof(struct pt_regs) / 8);
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {  // OSXSAVE
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    r.xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
    if (__get_cpuid_count(0xD, 0, &a, &b, &c, &d)) r.xsave_bytes = b;
  }
#endif
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int blocked = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--blocked" && i + 1 < argc) blocked = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--blocked N]\n", argv[0]);
      return 2;
    }
  }
  // Batches/rounds: 5 batches so the median shrugs off a neighbour's compile burst;
  // 5,000 round trips (10-100 ms) per batch: far above timer resolution, short
  // enough that the whole tool runs in about 2 s.
  const int batches = quick ? 3 : 5;
  const int rounds = quick ? 2000 : 5000;
  const int creates = quick ? 300 : 2000;

  double cj = create_join_ns(batches, creates);
  double fp = futex_switch_ns(true, batches, rounds);
  double fu = futex_switch_ns(false, batches, rounds);
  double pp = pipe_switch_ns(true, batches, rounds);
  double pu = pipe_switch_ns(false, batches, rounds);
  StackCost s = blocked_threads(quick ? std::min(blocked, 200) : blocked);
  Regs r = regs();

  std::printf(
      "{\"create_join_ns\": %.0f, \"switch_futex_pinned_ns\": %.0f, \"switch_futex_unpinned_ns\": %.0f, "
      "\"switch_pipe_pinned_ns\": %.0f, \"switch_pipe_unpinned_ns\": %.0f, "
      "\"stack_threads\": %d, \"stack_default_bytes\": %zu, \"stack_virt_kb_per_thread\": %.1f, "
      "\"stack_rss_kb_per_thread\": %.1f, \"stack_maps_per_thread\": %.2f, "
      "\"regs_ptregs_words\": %d, \"regs_xsave_bytes\": %u, \"regs_xcr0\": %llu, \"cpus\": %u}\n",
      cj, fp, fu, pp, pu, s.threads, s.default_stack, s.virt_kb, s.rss_kb, s.maps, r.ptregs_words,
      r.xsave_bytes, r.xcr0, std::thread::hardware_concurrency());
  return 0;
}
