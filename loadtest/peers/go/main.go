// goro-go-peer — Go's net/http serving goro's endpoints, the reference point for
// goroutine-per-connection that loadtest/compare puts beside goro's modes.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go build -o goro-go-peer main.go
//	./goro-go-peer --bind 127.0.0.1 --port 0 [--db CONNINFO --db-pool N]
//
// It builds offline in GOPATH mode: the standard library plus github.com/lib/pq
// from Debian's golang-github-lib-pq-dev (source under /usr/share/gocode/src).
//
// What it shows: what Go's own runtime (goroutine per connection, netpoller, 2 KB
// initial stacks) achieves on the same machine, endpoints and client.
// Endpoints mirror goro's: GET / -> "Hello, World!\n"; /sleep?ms=N (N <= 10000);
// /cpu?n=N (the same deterministic loop as goro's /cpu); POST /echo; /debug/vars;
// /fanout?n=N&ms=M (N <= 100 concurrent calls to --upstream, default its own
// /sleep?ms=M, gathered over a channel against --fanout-timeout, default 1 s);
// and TechEmpower's test types, to their rules ("Framework Tests Overview"):
// /json, /plaintext, /db, /queries?queries=N, /fortunes, /updates?queries=N.
// The database ones use database/sql over lib/pq with prepared statements and a
// pool of --db-pool connections; without --db they answer 503.
// Every response carries Server and Date (net/http adds Date).
// On start it prints "listening on 127.0.0.1:PORT" to stderr, like goro; SIGTERM
// shuts down gracefully and exits 0.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// Bounds match goro's handlers so a request costs the same work in both servers.
const (
	maxSleepMs = 10000
	maxCPUIter = 50000000
	maxEchoLen = 1 << 20
)

// TechEmpower's data set and bounds: World has ids 1..worldRows with random
// numbers in the same range; /queries and /updates take 1..maxQueries rows.
const (
	worldRows  = 10000
	maxQueries = 500
	// dbTimeout bounds one request's database work, the wait for a pooled
	// connection included: goro's --db-timeout default, so both give up alike.
	dbTimeout = 5 * time.Second
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

// queriesParam is TechEmpower's clamp for ?queries=: missing, not a number or
// below 1 means 1; above maxQueries (however large) means maxQueries.
func queriesParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("queries"))
	if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: n is the clamped extreme
		return 1
	}
	if n < 1 {
		return 1
	}
	if n > maxQueries {
		return maxQueries
	}
	return n
}

// send writes a complete body with an explicit Content-Length, so no response
// is chunked whatever its size.
func send(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func sendJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	send(w, "application/json", body)
}

// fanout is /fanout?n=N&ms=M, to goro's contract (server/include/goro/http/
// fanout.hpp): N goroutines each make one GET to the upstream and send the
// outcome over a channel; the handler gathers them with a select against the
// deadline, as goro's handler does with goro::Chan and goro::select.
type fanout struct {
	client   *http.Client
	upstream string        // --upstream; "" is this server's own /sleep
	timeout  time.Duration // --fanout-timeout: the whole request, from its start
	self     string        // "http://ADDR" of this server, for the default upstream
}

// goro's bounds for n and ms, so both servers accept the same requests.
const maxFanoutN = 100

// fanoutIdlePerHost is goro's FanoutOptions::max_idle_per_host, for the same
// reason: Go's Transport keeps at most MaxIdleConnsPerHost idle connections to
// a host (default 2) and closes the others as their calls finish.  At c=500
// and n=10 up to 5,000 calls are in flight, answered in waves of ten; with the
// default nearly every call would dial afresh and leave a socket in
// TIME_WAIT, and the scenario would measure connect(2) rather than the model.
// A thousand idle connections absorb the bursts in which many calls finish
// together; a call beyond them still works, on a new connection.
const fanoutIdlePerHost = 1024

// newFanoutClient is the one client every sub-call shares, so connections to
// the upstream are kept alive and reused.
func newFanoutClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = fanoutIdlePerHost
	t.MaxIdleConns = fanoutIdlePerHost // default 100 over all hosts: it would cap the per-host figure
	t.Proxy = nil                      // the upstream is addressed directly, whatever the environment says
	return &http.Client{Transport: t}
}

// url is what one sub-call fetches, as goro builds it: {ms} in --upstream
// replaced by ms, else ms=M appended as a query parameter; without
// --upstream, this server's own /sleep.
func (f *fanout) url(ms int64) string {
	if f.upstream == "" {
		return fmt.Sprintf("%s/sleep?ms=%d", f.self, ms)
	}
	if strings.Contains(f.upstream, "{ms}") {
		return strings.Replace(f.upstream, "{ms}", strconv.FormatInt(ms, 10), 1)
	}
	sep := "?"
	if strings.Contains(f.upstream, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%sms=%d", f.upstream, sep, ms)
}

// call fetches u once and reads the body to its end, so the connection goes
// back to the pool; nil means a 2xx answer.
func (f *fanout) call(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream answered %d", resp.StatusCode)
	}
	return nil
}

func (f *fanout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	n, okN := intParam(r, "n", maxFanoutN)
	ms, okMs := intParam(r, "ms", maxSleepMs)
	if !okN || n < 1 || !okMs {
		http.Error(w, fmt.Sprintf("want ?n=N&ms=M with n from 1 to %d and ms from 0 to %d", maxFanoutN, maxSleepMs),
			http.StatusBadRequest)
		return
	}
	// The deadline is every call's too, and the handler's return cancels
	// them: a call still out then is abandoned with its connection, so
	// nothing outlives the request.
	ctx, cancel := context.WithDeadline(r.Context(), start.Add(f.timeout))
	defer cancel()
	// Buffered for every answer: a goroutine whose answer comes after the
	// handler stopped gathering still sends without blocking, then exits.
	results := make(chan error, n)
	u := f.url(ms)
	for i := int64(0); i < n; i++ {
		go func() { results <- f.call(ctx, u) }()
	}
	var ok, failed int64
gather:
	for got := int64(0); got < n; got++ {
		select {
		case err := <-results:
			switch {
			case err == nil:
				ok++
			case ctx.Err() != nil:
				// Ended by the deadline, not by the upstream: it timed out,
				// like the calls still out.
				break gather
			default:
				failed++
			}
		case <-ctx.Done():
			break gather
		}
	}
	timedOut := n - ok - failed
	status := http.StatusOK
	if timedOut > 0 {
		status = http.StatusGatewayTimeout
	} else if failed > 0 {
		status = http.StatusBadGateway
	}
	body := fmt.Sprintf("{\"n\":%d,\"ms\":%d,\"ok\":%d,\"failed\":%d,\"timed_out\":%d,\"elapsed_ms\":%.1f}\n",
		n, ms, ok, failed, timedOut, float64(time.Since(start).Microseconds())/1000)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

type world struct {
	ID           int32 `json:"id"`
	RandomNumber int32 `json:"randomNumber"`
}

type fortune struct {
	ID      int32
	Message string
}

// html/template escapes every message (<, >, &, quotes) as TechEmpower requires.
var fortunesPage = template.Must(template.New("fortunes").Parse(
	`<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>` +
		`<tr><th>id</th><th>message</th></tr>` +
		`{{range .}}<tr><td>{{.ID}}</td><td>{{.Message}}</td></tr>{{end}}` +
		`</table></body></html>`))

// renderFortunes is the fortunes page of the rows read: TechEmpower's extra row
// added at request time, all sorted by message, every message escaped.
func renderFortunes(fs []fortune) ([]byte, error) {
	fs = append(fs, fortune{0, "Additional fortune added at request time."})
	sort.Slice(fs, func(i, j int) bool { return fs[i].Message < fs[j].Message })
	var page bytes.Buffer
	err := fortunesPage.Execute(&page, fs)
	return page.Bytes(), err
}

// store is the database side: one pool, statements prepared once (database/sql
// re-prepares each on every pooled connection it runs on).
type store struct {
	db                         *sql.DB
	worldByID, fortunes, batch *sql.Stmt
}

func openStore(conninfo string, pool int) (*store, error) {
	db, err := sql.Open("postgres", conninfo)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(pool)
	db.SetMaxIdleConns(pool) // idle connections are kept, never closed and reopened under load
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s := &store{db: db}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.worldByID, "SELECT id, randomnumber FROM world WHERE id = $1"},
		{&s.fortunes, "SELECT id, message FROM fortune"},
		// One statement for any number of rows: ids and numbers as two arrays.
		{&s.batch, "UPDATE world SET randomnumber = u.r FROM unnest($1::int[], $2::int[]) AS u(id, r) " +
			"WHERE world.id = u.id"},
	} {
		if *p.stmt, err = db.PrepareContext(ctx, p.query); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.query, err)
		}
	}
	return s, nil
}

func randomID() int32 { return int32(rand.Intn(worldRows)) + 1 }

func (s *store) world(ctx context.Context, id int32) (world, error) {
	w := world{}
	err := s.worldByID.QueryRowContext(ctx, id).Scan(&w.ID, &w.RandomNumber)
	return w, err
}

// worlds reads n random rows, one query each, as TechEmpower's multiple-queries
// test requires.  distinct: no id twice (updates: one new number per row).
func (s *store) worlds(ctx context.Context, n int, distinct bool) ([]world, error) {
	out := make([]world, 0, n)
	seen := make(map[int32]bool, n)
	for len(out) < n {
		id := randomID()
		if distinct {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		w, err := s.world(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// update gives each row a new random number and persists them in one
// statement.  Rows go in ascending id order, so two concurrent updates lock
// their common rows in the same order and cannot deadlock.
func (s *store) update(ctx context.Context, ws []world) error {
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	ids, nums := make(pq.Int32Array, len(ws)), make(pq.Int32Array, len(ws))
	for i := range ws {
		r := randomID()
		for r == ws[i].RandomNumber { // a changed row, so every update is visible
			r = randomID()
		}
		ws[i].RandomNumber = r
		ids[i], nums[i] = ws[i].ID, r
	}
	_, err := s.batch.ExecContext(ctx, ids, nums)
	return err
}

func (s *store) allFortunes(ctx context.Context) ([]fortune, error) {
	rows, err := s.fortunes.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fortune
	for rows.Next() {
		f := fortune{}
		if err := rows.Scan(&f.ID, &f.Message); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// dbHandler runs h with the request's database deadline, and turns its error
// into goro's answers: 504 when the deadline passed, 503 otherwise (database
// down, connection lost).  A nil store (no --db) answers 503 at once.
func dbHandler(s *store, h func(ctx context.Context, w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s == nil {
			http.Error(w, "database unavailable: no --db given", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
		defer cancel()
		if err := h(ctx, w, r); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				http.Error(w, "database timeout: "+err.Error(), http.StatusGatewayTimeout)
			} else {
				http.Error(w, "database unavailable: "+err.Error(), http.StatusServiceUnavailable)
			}
		}
	}
}

// newHandler serves every endpoint; st nil (no --db): the database ones answer 503.
func newHandler(st *store, fo *fanout) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!\n")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, ok := intParam(r, "ms", maxSleepMs)
		if !ok {
			http.Error(w, "bad ms", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %d ms\n", ms)
	})
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		n, ok := intParam(r, "n", maxCPUIter)
		if !ok {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%016x\n", cpuWork(n))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
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
	mux.Handle("/fanout", fo)
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		// Serialized per request, as the JSON test requires.
		sendJSON(w, struct {
			Message string `json:"message"`
		}{"Hello, World!"})
	})
	mux.HandleFunc("/plaintext", func(w http.ResponseWriter, r *http.Request) {
		send(w, "text/plain", []byte("Hello, World!"))
	})
	mux.HandleFunc("/db", dbHandler(st, func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		row, err := st.world(ctx, randomID())
		if err == nil {
			sendJSON(w, row)
		}
		return err
	}))
	mux.HandleFunc("/queries", dbHandler(st, func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		rows, err := st.worlds(ctx, queriesParam(r), false)
		if err == nil {
			sendJSON(w, rows)
		}
		return err
	}))
	mux.HandleFunc("/updates", dbHandler(st, func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		rows, err := st.worlds(ctx, queriesParam(r), true)
		if err == nil {
			err = st.update(ctx, rows)
		}
		if err == nil {
			sendJSON(w, rows)
		}
		return err
	}))
	mux.HandleFunc("/fortunes", dbHandler(st, func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		fs, err := st.allFortunes(ctx)
		if err != nil {
			return err
		}
		page, err := renderFortunes(fs)
		if err == nil {
			send(w, "text/html; charset=utf-8", page)
		}
		return err
	}))
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"mode\": \"go\", \"goroutines\": %d, \"requests\": %d, \"stack_inuse\": %d, \"heap_inuse\": %d}\n",
			runtime.NumGoroutine(), requests.Load(), ms.StackInuse, ms.HeapInuse)
	})
	// Every response names the server (TechEmpower's rule); every request but
	// the counter's own page is counted.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Go")
		if r.URL.Path != "/debug/vars" {
			requests.Add(1)
		}
		mux.ServeHTTP(w, r)
	})
}

func main() {
	bind := flag.String("bind", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0 picks a free one)")
	conninfo := flag.String("db", "", "libpq conninfo of the TechEmpower database (none: DB endpoints answer 503)")
	pool := flag.Int("db-pool", 16, "database connections in the pool")
	upstream := flag.String("upstream", "", "/fanout's upstream URL; {ms} in it becomes the request's ms, else ms=M is appended (default: this server's /sleep)")
	fanoutTimeout := flag.Duration("fanout-timeout", time.Second, "deadline of a whole /fanout, from its start: then 504")
	flag.Parse()

	var st *store
	if *conninfo != "" {
		var err error
		if st, err = openStore(*conninfo, *pool); err != nil {
			log.Fatalf("database: %v", err)
		}
	}
	rand.Seed(time.Now().UnixNano())

	ln, err := net.Listen("tcp", net.JoinHostPort(*bind, strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	// The default upstream is this server over loopback, also when it listens
	// on every address.
	host, p, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	fo := &fanout{client: newFanoutClient(), upstream: *upstream, timeout: *fanoutTimeout,
		self: "http://" + net.JoinHostPort(host, p)}
	handler := newHandler(st, fo)
	fmt.Fprintf(os.Stderr, "goro-go-peer: listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: handler}

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
	if st != nil {
		st.db.Close()
	}
}
