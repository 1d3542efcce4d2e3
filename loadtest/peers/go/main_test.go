// Tests of the Go peer against TechEmpower's rules, so that compare puts goro
// beside a peer that does the same work:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go test
//	GORO_PEER_DB='host=... dbname=hello_world user=... password=...' go test   # also the database endpoints
//
// Without GORO_PEER_DB the database tests are skipped (t.Skip says why).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	for _, h := range []string{"Server", "Date", "Content-Type", "Content-Length"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("GET %s: no %s header", path, h)
		}
	}
	return resp, string(body)
}

func TestQueriesClamp(t *testing.T) {
	for q, want := range map[string]int{"": 1, "foo": 1, "0": 1, "-3": 1, "1": 1, "20": 20, "500": 500, "501": 500,
		"99999999999999999999": 500, "-99999999999999999999": 1} {
		r := httptest.NewRequest("GET", "/queries?queries="+q, nil)
		if got := queriesParam(r); got != want {
			t.Errorf("queries=%q: %d, want %d", q, got, want)
		}
	}
	if got := queriesParam(httptest.NewRequest("GET", "/queries", nil)); got != 1 {
		t.Errorf("no queries parameter: %d, want 1", got)
	}
}

func TestFortunesEscapedSortedWithTheAddedRow(t *testing.T) {
	page, err := renderFortunes([]fortune{{11, `<script>alert("x");</script>`}, {12, "フレームワークのベンチマーク"},
		{1, "fortune: No such file or directory"}, {2, "A computer scientist fixes things that aren't broken."}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	want := []string{"<tr><td>11</td><td>&lt;script&gt;alert(&#34;x&#34;);&lt;/script&gt;</td></tr>",
		"<tr><td>2</td><td>A computer scientist fixes things that aren&#39;t broken.</td></tr>",
		"<tr><td>0</td><td>Additional fortune added at request time.</td></tr>",
		"<tr><td>1</td><td>fortune: No such file or directory</td></tr>",
		"<tr><td>12</td><td>フレームワークのベンチマーク</td></tr>"}
	at := 0
	for _, row := range want {
		i := strings.Index(s[at:], row)
		if i < 0 {
			t.Fatalf("row %q missing or out of order in\n%s", row, s)
		}
		at += i + len(row)
	}
	if !strings.HasPrefix(s, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>") ||
		!strings.HasSuffix(s, "</table></body></html>") {
		t.Errorf("not the fortunes page:\n%s", s)
	}
}

func TestWithoutDatabase(t *testing.T) {
	srv := httptest.NewServer(newHandler(nil, nil))
	defer srv.Close()
	resp, body := get(t, srv, "/json")
	if body != `{"message":"Hello, World!"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/json: %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	resp, body = get(t, srv, "/plaintext")
	if body != "Hello, World!" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("/plaintext: %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	for _, path := range []string{"/db", "/queries?queries=5", "/fortunes", "/updates?queries=5"} {
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "database unavailable") {
			t.Errorf("%s without --db: %d %q, want 503 database unavailable", path, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, srv, "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", resp.StatusCode)
	}
}

func dbServer(t *testing.T) (*httptest.Server, *store) {
	conninfo := os.Getenv("GORO_PEER_DB")
	if conninfo == "" {
		t.Skip("GORO_PEER_DB (a conninfo of the hello_world database, e.g. from scripts/db start) not set")
	}
	st, err := openStore(conninfo, 4)
	if err != nil {
		t.Fatalf("database: %v", err)
	}
	srv := httptest.NewServer(newHandler(st, nil))
	t.Cleanup(func() { srv.Close(); st.db.Close() })
	return srv, st
}

func worldsOf(t *testing.T, path, body string) []world {
	t.Helper()
	var ws []world
	if err := json.Unmarshal([]byte(body), &ws); err != nil {
		t.Fatalf("%s: not a JSON array of worlds: %v: %q", path, err, body)
	}
	for _, w := range ws {
		if w.ID < 1 || w.ID > worldRows || w.RandomNumber < 1 || w.RandomNumber > worldRows {
			t.Errorf("%s: row out of range: %+v", path, w)
		}
	}
	return ws
}

func TestDatabaseEndpoints(t *testing.T) {
	srv, st := dbServer(t)
	_, body := get(t, srv, "/db")
	var one map[string]any
	if err := json.Unmarshal([]byte(body), &one); err != nil || len(one) != 2 || one["id"] == nil ||
		one["randomNumber"] == nil {
		t.Errorf("/db: %q, want {\"id\":N,\"randomNumber\":M}", body)
	}
	for q, n := range map[string]int{"": 1, "foo": 1, "0": 1, "7": 7, "501": 500} {
		for _, ep := range []string{"/queries", "/updates"} {
			path := ep + "?queries=" + q
			resp, body := get(t, srv, path)
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: Content-Type %q", path, resp.Header.Get("Content-Type"))
			}
			if ws := worldsOf(t, path, body); len(ws) != n {
				t.Errorf("%s: %d rows, want %d", path, len(ws), n)
			}
		}
	}
	resp, body := get(t, srv, "/fortunes")
	if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || strings.Count(body, "<tr>") != 14 ||
		!strings.Contains(body, "フレームワークのベンチマーク") || strings.Contains(body, "<script>") {
		t.Errorf("/fortunes (%s): want 13 escaped rows and the header row:\n%s", resp.Header.Get("Content-Type"), body)
	}
	// Updates persist: every row returned reads back from the database as returned.
	_, body = get(t, srv, "/updates?queries=20")
	for _, w := range worldsOf(t, "/updates", body) {
		var got int32
		if err := st.db.QueryRowContext(context.Background(), "SELECT randomnumber FROM world WHERE id = $1",
			w.ID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != w.RandomNumber {
			t.Errorf("/updates: row %d reads back %d, returned %d", w.ID, got, w.RandomNumber)
		}
	}
}

// failAfter bounds a wait that only a broken fan-out reaches; the tests never
// take it when they pass.
const failAfter = 10 * time.Second

// fanoutServer is the peer with /fanout calling upstream ("" = its own /sleep)
// under the given deadline.
func fanoutServer(t *testing.T, upstream string, timeout time.Duration) *httptest.Server {
	fo := &fanout{client: newFanoutClient(), upstream: upstream, timeout: timeout}
	srv := httptest.NewServer(newHandler(nil, fo))
	fo.self = srv.URL // before the first request: the default upstream is the server itself
	t.Cleanup(srv.Close)
	return srv
}

// fanoutAnswer is goro's /fanout body without elapsed_ms (a timing).
type fanoutAnswer struct {
	N, Ms, OK, Failed int64
	TimedOut          int64 `json:"timed_out"`
}

func getFanout(t *testing.T, srv *httptest.Server, query string, wantStatus int) fanoutAnswer {
	t.Helper()
	resp, body := get(t, srv, "/fanout?"+query)
	if resp.StatusCode != wantStatus {
		t.Fatalf("/fanout?%s: %d %q, want %d", query, resp.StatusCode, body, wantStatus)
	}
	var a fanoutAnswer
	var keys map[string]any
	if err := json.Unmarshal([]byte(body), &keys); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/fanout?%s: not JSON (%s): %v: %q", query, resp.Header.Get("Content-Type"), err, body)
	}
	json.Unmarshal([]byte(body), &a)
	if len(keys) != 6 || keys["elapsed_ms"] == nil || !strings.HasSuffix(body, "}\n") {
		t.Errorf("/fanout?%s: %q, want goro's one line of n, ms, ok, failed, timed_out, elapsed_ms", query, body)
	}
	return a
}

// upstream is a test server for the fan-out to call.  Its connections are
// cut before it closes: a call a broken fan-out left open would otherwise
// block Close for ever.
func upstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	up := httptest.NewServer(h)
	t.Cleanup(func() { up.CloseClientConnections(); up.Close() })
	return up
}

// barrier is an upstream that answers no call until n calls are in at once:
// a fan-out that made its calls one after another never gets an answer.
func barrier(t *testing.T, n int) *httptest.Server {
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			io.WriteString(w, "ok")
		case <-r.Context().Done():
		}
	})
	return up
}

func TestFanoutCallsConcurrently(t *testing.T) {
	// The deadline only bounds a failure: a working fan-out answers as soon as
	// the tenth call arrives.
	srv := fanoutServer(t, barrier(t, 10).URL, failAfter)
	if a := getFanout(t, srv, "n=10&ms=20", http.StatusOK); a != (fanoutAnswer{10, 20, 10, 0, 0}) {
		t.Errorf("n=10 against a barrier of 10: %+v, want 10 ok", a)
	}
}

func TestFanoutDefaultUpstreamIsItsOwnSleep(t *testing.T) {
	fo := &fanout{client: newFanoutClient(), timeout: failAfter}
	var mu sync.Mutex
	var served []string
	h := newHandler(nil, fo)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.RequestURI())
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	fo.self = srv.URL
	if a := getFanout(t, srv, "n=3&ms=1", http.StatusOK); a != (fanoutAnswer{3, 1, 3, 0, 0}) {
		t.Errorf("n=3: %+v, want 3 ok", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(served, " "); got != "/fanout?n=3&ms=1 /sleep?ms=1 /sleep?ms=1 /sleep?ms=1" {
		t.Errorf("served %q, want the fan-out and 3 calls to its own /sleep?ms=1", got)
	}
}

func TestFanoutDeadlineAbandonsTheLateCall(t *testing.T) {
	// One call of three never answers by itself; the fan-out must answer 504
	// at its deadline and close that call (the upstream sees it cancelled).
	var mu sync.Mutex
	calls, abandoned := 0, make(chan struct{})
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-r.Context().Done()
			close(abandoned)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := fanoutServer(t, up.URL, 100*time.Millisecond)
	if a := getFanout(t, srv, "n=3&ms=0", http.StatusGatewayTimeout); a != (fanoutAnswer{3, 0, 2, 0, 1}) {
		t.Errorf("one call of 3 stuck: %+v, want 2 ok and 1 timed out", a)
	}
	select {
	case <-abandoned:
	case <-time.After(failAfter):
		t.Errorf("the late call was still open %v after the 504: its goroutine leaked", failAfter)
	}
}

func TestFanoutUpstreamErrors(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		fail := calls == 2
		mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	if a := getFanout(t, fanoutServer(t, up.URL, failAfter), "n=4&ms=0", http.StatusBadGateway); a != (fanoutAnswer{4, 0, 3, 1, 0}) {
		t.Errorf("one upstream 500 of 4: %+v, want 3 ok and 1 failed", a)
	}
	// A refused connection: a port that was listening and is closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := fmt.Sprintf("http://%s/", ln.Addr())
	ln.Close()
	if a := getFanout(t, fanoutServer(t, refused, failAfter), "n=2&ms=0", http.StatusBadGateway); a != (fanoutAnswer{2, 0, 0, 2, 0}) {
		t.Errorf("refused upstream: %+v, want 2 failed", a)
	}
}

func TestFanoutBadParameters(t *testing.T) {
	srv := fanoutServer(t, "", failAfter)
	for _, q := range []string{"", "n=10", "ms=20", "n=0&ms=20", "n=101&ms=20", "n=x&ms=20", "n=10&ms=-1",
		"n=10&ms=10001"} {
		if resp, body := get(t, srv, "/fanout?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/fanout?%s: %d %q, want 400", q, resp.StatusCode, body)
		}
	}
}

func TestFanoutUpstreamURL(t *testing.T) {
	for up, want := range map[string]string{
		"":                         "http://self/sleep?ms=20",
		"http://b:1/sleep":         "http://b:1/sleep?ms=20",
		"http://b:1/q?x=1":         "http://b:1/q?x=1&ms=20",
		"http://b:1/wait/{ms}?x=1": "http://b:1/wait/20?x=1",
	} {
		if got := (&fanout{upstream: up, self: "http://self"}).url(20); got != want {
			t.Errorf("--upstream %q: %q, want %q", up, got, want)
		}
	}
}
