// traceback.cpp — what the runtime tells about itself: aborts ("goro: ..."
// followed by the goroutine dump, like Go's throw printing tracebacks),
// stats(), goroutines() and dump_goroutines() with or without stacks, and the
// state and wait-reason names they print.
//
// # Stacks of parked goroutines
//
// A parked G's stack holds still while it stays parked, and goro_ctx_switch
// left a known frame at its saved sp (context_x86_64.S): the return address
// into the code that switched, and the rbp of that code.  goro::runtime
// compiles itself and everything that links it with frame pointers, so from
// there the stack is a chain of (saved rbp, return address) pairs up to
// goro_g_entry, whose caller (the trampoline) zeroed rbp.
//
// The dump must not read a stack that runs: the G could be readied at any
// moment, run, exit, and its stack be unmapped.  So, as Go's GC holds a G
// with the _Gscan bit, the dump moves each waiting G to kGTraced by CAS,
// copies its return addresses, and moves it back; ready() of a traced G
// waits for that (make_runnable_traced), which costs the ready fast path
// nothing: its CAS from `waiting` was there already.  Copying is bounded
// (kMaxFrames, a few hundred ns), symbolizing comes after, with no G held.
// Every frame pointer is checked to lie in the G's stack above the last one,
// so a chain broken by code compiled without frame pointers ends the walk
// early instead of reading outside the stack.  Running and runnable Gs are
// not stopped (goro never stops the world): they show no stack.
//
// Symbols come from elfutils' libdw (dwfl): function names from the symbol
// tables (demangled), file:line from the DWARF line tables, of the binary
// and every shared library mapped in /proc/self/maps.
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "internal.hpp"

namespace goro::detail {
namespace {

// Set by the first abort: a second one (an invariant broken while dumping)
// skips the dump.
std::atomic<bool> dying{false};

// One dump line: "goroutine 7 [chan receive]: worker 1\n".
void format_line(char (&line)[128], const GoroutineInfo& g) noexcept {
  const char* what = g.state == GState::waiting ? to_string(g.reason) : to_string(g.state);
  std::snprintf(line, sizeof line, "goroutine %llu [%s]%s: worker %d\n",
                static_cast<unsigned long long>(g.id), what, g.main ? " (main)" : "", g.worker);
}

GoroutineInfo info_of(const G* g, GState st) noexcept {
  if (st == kGTraced) st = GState::waiting;  // another dump holds it
  GoroutineInfo gi;
  gi.id = g->id.load(std::memory_order_relaxed);
  gi.state = st;
  gi.worker = g->last_worker.load(std::memory_order_relaxed);
  gi.main = g->is_main.load(std::memory_order_relaxed);
  gi.created_pc = gi.main ? 0 : g->go_pc.load(std::memory_order_relaxed);
  if (st == GState::waiting) {
    gi.reason = g->reason.load(std::memory_order_relaxed);
    gi.waited_ms = static_cast<std::uint32_t>(coarse_ms() - g->parked_ms.load(std::memory_order_relaxed));
  }
  return gi;
}

// Frames copied per goroutine (Go prints 100, then "...additional frames
// elided...").
constexpr int kMaxFrames = 100;

// The return addresses on g's stack, innermost first; g is held (kGTraced).
// Not instrumented: the words read were written by call and push
// instructions the sanitizers do not see, under fake-stack or redzone
// shadow that may be stale; the CAS that holds g orders the reads.
__attribute__((no_sanitize("address", "thread"))) int walk_stack(const G* g, std::uintptr_t* pcs) noexcept {
  const auto lo = reinterpret_cast<std::uintptr_t>(g->stack.lo);
  const std::uintptr_t hi = lo + g->stack.size;
  const auto sp = reinterpret_cast<std::uintptr_t>(g->sp);
  // The switch frame: MXCSR/x87, r15, r14, r13, r12, rbx, rbp, return address.
  if (lo == 0 || sp < lo || sp + 64 > hi || sp % 8 != 0) return 0;
  const auto* frame = reinterpret_cast<const std::uintptr_t*>(sp);
  int n = 0;
  pcs[n++] = frame[7];
  std::uintptr_t fp = frame[6], floor = sp + 64;
  while (n < kMaxFrames && fp >= floor && fp + 16 <= hi && fp % 8 == 0) {
    const auto* f = reinterpret_cast<const std::uintptr_t*>(fp);
    if (f[1] == 0) break;
    pcs[n++] = f[1];
    floor = fp + 16;
    fp = f[0];
  }
  // A complete chain ends in goro_g_entry called by the trampoline: both
  // the runtime's, not the goroutine's.
  const auto tramp = reinterpret_cast<std::uintptr_t>(&goro_ctx_trampoline);
  if (n >= 2 && pcs[n - 1] - tramp < 16) n -= 2;
  return n;
}

// One goroutine of a dump with stacks: what was read while holding it.
struct Sample {
  GoroutineInfo info;
  std::size_t first = 0;  // its return addresses: pcs[first, first + n)
  int n = 0;
};

// Every live goroutine, each waiting one's stack copied while holding it.
void sample_all(std::vector<Sample>& out, std::vector<std::uintptr_t>& pcs) {
  std::lock_guard<std::mutex> life(sched.life_mu);
  if (!sched.live) return;
  std::lock_guard<std::mutex> l(sched.allg_lock);
  std::uintptr_t buf[kMaxFrames];
  for (auto& slab : sched.allg)
    for (std::size_t i = 0; i < kGSlab; i++) {
      G* g = &slab[i];
      GState st = g->state.load(std::memory_order_relaxed);
      if (st == GState::dead) continue;
      int n = 0;
      if (st == GState::waiting && g->state.compare_exchange_strong(st, kGTraced, std::memory_order_acquire)) {
        n = walk_stack(g, buf);
        out.push_back(Sample{info_of(g, GState::waiting), pcs.size(), n});
        g->state.store(GState::waiting, std::memory_order_release);
      } else {
        // Readied meanwhile (st is what the CAS found), or not waiting.
        if (st == GState::dead) continue;
        out.push_back(Sample{info_of(g, st), pcs.size(), 0});
      }
      pcs.insert(pcs.end(), buf, buf + n);
    }
}

// "1200 ms", "95 s", "3 minutes": how long a goroutine has waited.
std::string format_wait(std::uint64_t ms) {
  char b[32];
  if (ms < 1000)
    std::snprintf(b, sizeof b, "%llu ms", static_cast<unsigned long long>(ms));
  else if (ms < 120'000)
    std::snprintf(b, sizeof b, "%llu s", static_cast<unsigned long long>(ms / 1000));
  else
    std::snprintf(b, sizeof b, "%llu minutes", static_cast<unsigned long long>(ms / 60'000));
  return b;
}

// Code addresses to frames, through libdw, cached per address for one dump.
// One address may be several frames: the functions inlined there, innermost
// first (DWARF's inlined_subroutine scopes), then the function the symbol
// table names.  Each frame prints as "function\n\tfile:line\n"; the
// outermost adds " +0xoff" from the symbol.
class Symbolizer {
 public:
  struct Frame {
    std::string function;
    std::string where;  // "file:line" (absolute), or the binary's path
  };

  Symbolizer() {
    static char* debuginfo_path = nullptr;  // the default search path
    // Separate debug info only from local files by build id: the standard
    // finder would also ask debuginfod servers over the network whenever
    // DEBUGINFOD_URLS is set (Debian sets it in login shells).  goro's own
    // code carries its DWARF in the binary; libraries without theirs still
    // give their exported names.
    static const Dwfl_Callbacks callbacks{dwfl_linux_proc_find_elf, dwfl_build_id_find_debuginfo, nullptr,
                                          &debuginfo_path};
    dwfl_ = dwfl_begin(&callbacks);
    if (!dwfl_) return;
    dwfl_report_begin(dwfl_);
    int err = dwfl_linux_proc_report(dwfl_, getpid());
    dwfl_report_end(dwfl_, nullptr, nullptr);
    if (err != 0) {
      dwfl_end(dwfl_);
      dwfl_ = nullptr;
    }
  }
  ~Symbolizer() {
    if (dwfl_) dwfl_end(dwfl_);
  }
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // pc is a return address: the call is the instruction before it, and
  // pc itself may already be past the end of the function (a call to a
  // noreturn function), so pc - 1 is looked up.
  const std::vector<Frame>& frames(std::uintptr_t pc) {
    auto [it, fresh] = cache_.try_emplace(pc);
    if (fresh) lookup(pc, it->second);
    return it->second;
  }

 private:
  static std::string demangle(const char* name) {
    int status = -1;
    std::unique_ptr<char, decltype(&std::free)> plain(abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
    return status == 0 && plain ? plain.get() : name;
  }

  // "dir/file:line", made absolute with the compilation directory.
  static std::string place(const char* file, int line, const char* comp_dir) {
    std::string s = file;
    if (!s.empty() && s[0] != '/' && comp_dir) s = (std::filesystem::path(comp_dir) / s).lexically_normal().string();
    return s + ":" + std::to_string(line);
  }

  // The name of an inlined_subroutine's function, demangled when it has a
  // linkage name.
  static std::string inlined_name(Dwarf_Die* scope) {
    Dwarf_Attribute attr;
    Dwarf_Die origin;
    if (!dwarf_formref_die(dwarf_attr(scope, DW_AT_abstract_origin, &attr), &origin)) return "?";
    for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name})
      if (const char* n = dwarf_formstring(dwarf_attr_integrate(&origin, at, &attr))) return demangle(n);
    const char* n = dwarf_diename(&origin);
    return n ? n : "?";
  }

  void lookup(std::uintptr_t pc, std::vector<Frame>& out) {
    const Dwarf_Addr at = pc - 1;
    Dwfl_Module* mod = dwfl_ ? dwfl_addrmodule(dwfl_, at) : nullptr;
    GElf_Off off = 0;
    GElf_Sym sym;
    const char* name = mod ? dwfl_module_addrinfo(mod, at, &off, &sym, nullptr, nullptr, nullptr) : nullptr;
    Frame outer{name ? demangle(name) : "?", {}};
    Dwfl_Line* l = mod ? dwfl_module_getsrc(mod, at) : nullptr;
    int line = 0;
    const char* file = l ? dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr) : nullptr;
    if (file) {
      // Where pc is; when functions were inlined there, that is in the
      // innermost, and each inlined_subroutine says where it was called.
      const char* comp_dir = dwfl_line_comp_dir(l);
      std::string where = place(file, line, comp_dir);
      Dwarf_Addr bias = 0;
      Dwarf_Die* cu = dwfl_module_addrdie(mod, at, &bias);
      Dwarf_Die* scopes = nullptr;
      int n = cu ? dwarf_getscopes(cu, at - bias, &scopes) : 0;
      Dwarf_Files* files = nullptr;
      std::size_t nfiles = 0;
      if (n > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = nullptr;
      for (int i = 0; i < n && files; i++) {
        if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
        out.push_back(Frame{inlined_name(&scopes[i]), where});
        Dwarf_Attribute attr;
        Dwarf_Word call_file = 0, call_line = 0;
        dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &call_file);
        dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &call_line);
        const char* f = call_file < nfiles ? dwarf_filesrc(files, call_file, nullptr, nullptr) : nullptr;
        where = place(f ? f : "?", static_cast<int>(call_line), comp_dir);
      }
      std::free(scopes);
      outer.where = where;
    } else {
      const char* obj = mod ? dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) : nullptr;
      outer.where = obj ? obj : "?";
    }
    char tail[40];
    std::snprintf(tail, sizeof tail, name ? " +0x%llx" : " pc=0x%llx", static_cast<unsigned long long>(name ? off + 1 : pc));
    outer.where += tail;
    out.push_back(std::move(outer));
  }

  Dwfl* dwfl_ = nullptr;
  std::unordered_map<std::uintptr_t, std::vector<Frame>> cache_;
};

void append_frame(std::string& s, const Symbolizer::Frame& f) {
  s += f.function;
  s += "\n\t";
  s += f.where;
  s += "\n";
}

// Dumps with stacks one at a time: a second would find the first's Gs
// held, and libdw's state is not shared between threads.
std::mutex stack_dump_mu;

std::string dump_with_stacks() {
  std::lock_guard<std::mutex> one(stack_dump_mu);
  std::vector<Sample> gs;
  std::vector<std::uintptr_t> pcs;
  sample_all(gs, pcs);
  std::sort(gs.begin(), gs.end(), [](const Sample& a, const Sample& b) { return a.info.id < b.info.id; });
  Symbolizer sym;
  std::string s;
  char line[160];
  for (const Sample& g : gs) {
    const GoroutineInfo& gi = g.info;
    if (gi.state == GState::waiting)
      std::snprintf(line, sizeof line, "goroutine %llu [%s, %s]%s:\n", static_cast<unsigned long long>(gi.id),
                    to_string(gi.reason), format_wait(gi.waited_ms).c_str(), gi.main ? " (main)" : "");
    else
      std::snprintf(line, sizeof line, "goroutine %llu [%s]%s:\n", static_cast<unsigned long long>(gi.id),
                    to_string(gi.state), gi.main ? " (main)" : "");
    s += line;
    if (gi.state == GState::running) {
      std::snprintf(line, sizeof line, "\trunning on worker %d (goro stops no goroutine to read its stack)\n",
                    gi.worker);
      s += line;
    } else if (gi.state == GState::runnable) {
      s += "\tqueued to run (goro reads stacks of parked goroutines only)\n";
    }
    for (int i = 0; i < g.n; i++)
      for (const auto& f : sym.frames(pcs[g.first + static_cast<std::size_t>(i)])) append_frame(s, f);
    if (g.n == kMaxFrames) s += "...additional frames elided...\n";
    if (gi.created_pc) {
      // go() is always inlined and calls g_new, which took created_pc: with
      // debug info the innermost frame there is go() itself, its caller the
      // creator; without, the one frame is the creator's.
      const auto& fs = sym.frames(gi.created_pc);
      s += "created by ";
      append_frame(s, fs[fs.size() > 1 ? 1 : 0]);
    }
    s += "\n";
  }
  return s;
}

}  // namespace

void write_stderr(const char* s) noexcept {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void dump_goroutines_on_abort() noexcept {
  if (dying.exchange(true)) return;
  // try_lock: the aborting thread may hold allg_lock itself (g_alloc), or
  // another thread may hold it forever now.  Unsorted, unlike
  // dump_goroutines(): sorting would allocate.
  if (!sched.allg_lock.try_lock()) {
    write_stderr("\ngoro: goroutine dump skipped: allgs is locked\n");
    return;
  }
  write_stderr("\n");
  for (auto& slab : sched.allg) {
    for (std::size_t i = 0; i < kGSlab; i++) {
      const G* g = &slab[i];
      GState st = g->state.load(std::memory_order_relaxed);
      if (st == GState::dead) continue;
      char line[128];
      format_line(line, info_of(g, st));
      write_stderr(line);
    }
  }
  sched.allg_lock.unlock();
}

void make_runnable_traced(G* g, GState cur) noexcept {
  for (;;) {
    if (cur != kGTraced) bad_gstatus(g, cur, GState::waiting, GState::runnable, "ready of a goroutine that is not parked");
    // A dump holds g for as long as copying its return addresses takes.
    while (g->state.load(std::memory_order_relaxed) == kGTraced) sched_yield();
    cur = GState::waiting;
    if (g->state.compare_exchange_strong(cur, GState::runnable)) return;
  }
}

void fatal(const char* msg) noexcept {
  write_stderr("goro: ");
  write_stderr(msg);
  write_stderr("\n");
  dump_goroutines_on_abort();
  std::abort();
}

void bad_gstatus(const G* g, GState cur, GState from, GState to, const char* why) noexcept {
  char buf[192];
  std::snprintf(buf, sizeof buf, "bad g status transition: goroutine %llu from %s to %s (expected %s)%s%s",
                static_cast<unsigned long long>(g->id.load(std::memory_order_relaxed)), to_string(cur),
                to_string(to), to_string(from), why ? ": " : "", why ? why : "");
  fatal(buf);
}

}  // namespace goro::detail

namespace goro {
using namespace detail;

const char* to_string(WaitReason r) noexcept {
  switch (r) {
    case WaitReason::none: return "";
    case WaitReason::chan_receive: return "chan receive";
    case WaitReason::chan_send: return "chan send";
    case WaitReason::select: return "select";
    case WaitReason::select_no_cases: return "select (no cases)";
    case WaitReason::sleep: return "sleep";
    case WaitReason::io_wait: return "IO wait";
    case WaitReason::mutex: return "mutex";
    case WaitReason::waitgroup: return "waitgroup";
    case WaitReason::blocking_call: return "blocking call";
    case WaitReason::semacquire: return "semacquire";
    case WaitReason::migrating: return "migrating";
  }
  return "?";
}

const char* to_string(GState s) noexcept {
  switch (s) {
    case GState::dead: return "dead";
    case GState::runnable: return "runnable";
    case GState::running: return "running";
    case GState::waiting: return "waiting";
  }
  return "?";
}

Stats stats() {
  Stats s;
  s.stack_size = stack_size();
  s.stacks = stacks_mapped();
  s.blocking_threads = blocking_threads();
  s.blocking_inflight = blocking_inflight();
  std::lock_guard<std::mutex> life(sched.life_mu);
  if (!sched.live) return s;
  s.running = true;
  s.shake = sched.shake.load(std::memory_order_relaxed);
  s.procs = sched.nprocs;
  s.global_runq = sched.gq_size.load();
  s.spinning = sched.nmspinning.load();
  s.idle = sched.npidle.load();
  std::uint64_t exited = 0;
  s.goroutines_spawned = sched.spawned_outside.load();
  for (auto& p : sched.ps) {
    ProcStats ps;
    ps.id = p->id;
    ps.runq = runq_len(p.get());
    ps.runnext = p->runnext.load(std::memory_order_relaxed) != nullptr;
    ps.timers = p->ntimers.load(std::memory_order_relaxed);
    ps.switches = p->switches.get();
    ps.steals = p->steals.get();
    ps.parks = p->parks.get();
    ps.spawned = p->spawned.get();
    s.switches += ps.switches;
    s.steals += ps.steals;
    s.parks += ps.parks;
    s.goroutines_spawned += ps.spawned;
    exited += p->exited.get();
    s.p.push_back(ps);
  }
  {
    std::lock_guard<SpinLock> l(sched.lock);
    for (P* q = sched.idle_head; q; q = q->idle_next) s.p[static_cast<std::size_t>(q->id)].idle = true;
  }
  s.goroutines_alive = s.goroutines_spawned >= exited ? s.goroutines_spawned - exited : 0;
  return s;
}

std::vector<GoroutineInfo> goroutines() {
  std::vector<GoroutineInfo> out;
  {
    std::lock_guard<std::mutex> life(sched.life_mu);
    if (!sched.live) return out;
    std::lock_guard<std::mutex> l(sched.allg_lock);
    for (auto& slab : sched.allg)
      for (std::size_t i = 0; i < kGSlab; i++) {
        const G* g = &slab[i];
        GState st = g->state.load(std::memory_order_relaxed);
        if (st != GState::dead) out.push_back(info_of(g, st));
      }
  }
  std::sort(out.begin(), out.end(), [](const GoroutineInfo& a, const GoroutineInfo& b) { return a.id < b.id; });
  return out;
}

std::string dump_goroutines(bool stacks) {
  if (stacks) return dump_with_stacks();
  std::string s;
  for (const GoroutineInfo& g : goroutines()) {
    char line[128];
    format_line(line, g);
    s += line;
  }
  return s;
}

void dump_goroutines_to_stderr() {
  std::string s = dump_goroutines(true);
  write_stderr(s.empty() ? "goro: no goroutines (the runtime is not running)\n" : s.c_str());
}

}  // namespace goro
