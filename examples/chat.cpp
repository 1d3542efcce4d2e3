// chat — a line-based chat server.  Every room is a goroutine that owns its
// member list and selects over three channels (join, leave, say), so no
// lock guards a room: the channels order everything that happens to it.
// Every client is two goroutines, a reader (commands and lines in) and a
// writer (its outbox channel out to the socket).
//
// Build against an installed goro (the .deb, or cmake --install into P and
// PKG_CONFIG_PATH=P/lib/pkgconfig):
//   g++ -std=c++20 -O2 chat.cpp -o chat $(pkg-config --cflags --libs --static goro-netpoll)
// or with CMake: examples/CMakeLists.txt.
//
//   ./chat [PORT]        # 127.0.0.1:PORT, default 7008; 0 picks a free port
//   nc 127.0.0.1 7008    # then: /nick ann, /join lobby, hello
#include <goro/chan.hpp>
#include <goro/netpoll/conn.hpp>
#include <goro/netpoll/listener.hpp>
#include <goro/netpoll/poller.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace np = goro::netpoll;

namespace {

// A client as a room sees it: where its lines go.  The outbox is buffered
// so that a room never waits for one slow reader; when it is full the
// line is dropped for that client alone.
struct Client {
  goro::Chan<std::string> outbox{64};
};
using ClientPtr = std::shared_ptr<Client>;

// A join or a leave.  The nick travels by value: the client's reader may
// change it while the room is still announcing.
struct Member {
  ClientPtr client;
  std::string nick;
};

struct Room {
  goro::Chan<Member> join;   // unbuffered: a send returns once the room has it
  goro::Chan<Member> leave;  // ... so after leave, no line reaches the outbox
  goro::Chan<std::string> say;
};

void broadcast(const std::set<ClientPtr>& members, const std::string& line) {
  for (const ClientPtr& m : members) m->outbox.try_send(line);  // full: dropped
}

// The room's goroutine: the only code that touches `members`.
void run_room(std::shared_ptr<Room> r, std::string name) {
  std::set<ClientPtr> members;
  for (;;) {
    std::optional<Member> joined, left;
    std::optional<std::string> said;
    switch (goro::select(goro::on_recv(r->join, joined), goro::on_recv(r->leave, left),
                         goro::on_recv(r->say, said))) {
      case 0:
        members.insert(joined->client);
        broadcast(members, "* " + joined->nick + " joined " + name + "\n");
        break;
      case 1:
        members.erase(left->client);
        broadcast(members, "* " + left->nick + " left " + name + "\n");
        break;
      case 2:
        broadcast(members, *said);
        break;
    }
  }
}

// Rooms by name, made on first /join.  A goro::Mutex parks a goroutine
// that waits for it (a std::mutex would block its worker thread).
goro::Mutex rooms_mu;
std::map<std::string, std::shared_ptr<Room>> rooms;

std::shared_ptr<Room> room_named(const std::string& name) {
  std::lock_guard lock(rooms_mu);
  std::shared_ptr<Room>& r = rooms[name];
  if (!r) {
    r = std::make_shared<Room>();
    goro::go([r, name] { run_room(r, name); });
  }
  return r;
}

// One client.  goro's Conn has one owner, so the writer gets its own
// descriptor for the socket (dup): reader and writer park independently.
void serve(np::Conn c) {
  auto me = std::make_shared<Client>();
  std::string nick = c.peer();
  np::Conn out(::dup(c.fd()));
  goro::go([me, out = std::move(out)]() mutable {
    while (std::optional<std::string> line = me->outbox.recv()) {  // nullopt: closed
      if (out.write_all(*line, np::kNoDeadline) < 0) break;
    }
    out.shutdown();  // the peer is gone: end the reader too
  });
  me->outbox.try_send("welcome: /nick NAME, /join ROOM, then type; /quit\n");

  std::shared_ptr<Room> room;
  std::string buf;
  char chunk[4096];
  for (bool quit = false; !quit;) {
    ssize_t n = c.read(chunk, np::kNoDeadline);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    for (size_t eol; !quit && (eol = buf.find('\n')) != std::string::npos;) {
      std::string line = buf.substr(0, eol);
      buf.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("/join ", 0) == 0 && line.size() > 6) {
        if (room) room->leave.send({me, nick});
        room = room_named(line.substr(6));
        room->join.send({me, nick});
      } else if (line.rfind("/nick ", 0) == 0 && line.size() > 6) {
        nick = line.substr(6);
      } else if (line == "/quit") {
        quit = true;
      } else if (room) {
        room->say.send(nick + ": " + line + "\n");
      } else {
        me->outbox.try_send("join a room first: /join ROOM\n");
      }
    }
    if (buf.size() > 4096) break;  // a line without end: not a chat client
  }
  if (room) room->leave.send({me, nick});  // the room lets go of the outbox ...
  me->outbox.close();              // ... so closing it cannot race a broadcast
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 7008;
  np::PollerChoice poller = np::choose_poller(np::PollerKind::automatic);
  goro::run(
      [&] {
        np::Listener ln;
        const char* what = "listen";
        if (int rc = ln.listen("127.0.0.1", port, 128, &what); rc < 0) {
          std::fprintf(stderr, "chat: %s: %s\n", what, std::strerror(-rc));
          std::exit(1);
        }
        std::printf("chat: listening on 127.0.0.1:%d, %s\n", ln.port(), poller.detail.c_str());
        std::fflush(stdout);
        for (;;) {
          np::Conn c;
          int rc = ln.accept(c, nullptr);
          if (rc == -EMFILE || rc == -ENFILE) {
            goro::sleep_for(std::chrono::milliseconds(10));
            continue;
          }
          if (rc < 0) {
            std::fprintf(stderr, "chat: accept: %s\n", std::strerror(-rc));
            std::exit(1);
          }
          goro::go([c = std::move(c)]() mutable { serve(std::move(c)); });
        }
      },
      {.poller = np::poller_factory(poller.kind)});
}
