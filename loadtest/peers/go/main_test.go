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
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
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
	srv := httptest.NewServer(newHandler(nil))
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
	srv := httptest.NewServer(newHandler(st))
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
