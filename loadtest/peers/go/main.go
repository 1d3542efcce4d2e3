// goro-go-peer — Go's net/http serving goro's endpoints, the reference point for
// goroutine-per-connection that loadtest/compare puts beside goro's modes.
//
//	go build -o goro-go-peer main.go   # standard library only, builds offline
//	./goro-go-peer --bind 127.0.0.1 --port 0
//
// What it shows: what Go's own runtime (goroutine per connection, netpoller, 2 KB
// initial stacks) achieves on the same machine, endpoints and client.
// Endpoints mirror goro's: GET / -> "Hello, World!\n"; /sleep?ms=N (N <= 10000);
// /cpu?n=N (the same deterministic loop as goro's /cpu); POST /echo; /debug/vars.
// On start it prints "listening on 127.0.0.1:PORT" to stderr, like goro; SIGTERM
// shuts down gracefully and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds match goro's handlers so a request costs the same work in both servers.
const (
	maxSleepMs = 10000
	maxCPUIter = 50000000
	maxEchoLen = 1 << 20
)

var requests atomic.Int64

// cpuWork is goro's /cpu loop step for step (server/src/handlers.cpp): n rounds
// of xorshift64 from the same seed, so both servers do identical work and answer
// the same hex digest.
func cpuWork(n int64) uint64 {
	x := uint64(88172645463325252)
	for i := int64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// intParam parses a required decimal query parameter in [0, max], as goro does.
func intParam(r *http.Request, key string, max int64) (int64, bool) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > max {
		return 0, false
	}
	return v, true
}

func main() {
	bind := flag.String("bind", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0 picks a free one)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!\n")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		ms, ok := intParam(r, "ms", maxSleepMs)
		if !ok {
			http.Error(w, "bad ms", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %d ms\n", ms)
	})
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		n, ok := intParam(r, "n", maxCPUIter)
		if !ok {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%016x\n", cpuWork(n))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoLen+1))
		if err != nil || len(body) > maxEchoLen {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(body)
	})
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"mode\": \"go\", \"goroutines\": %d, \"requests\": %d, \"stack_inuse\": %d, \"heap_inuse\": %d}\n",
			runtime.NumGoroutine(), requests.Load(), ms.StackInuse, ms.HeapInuse)
	})

	ln, err := net.Listen("tcp", net.JoinHostPort(*bind, strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "goro-go-peer: listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		<-stop
		// Same grace as goro's shutdown: in-flight requests finish, idle ones close.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
	<-done
}
