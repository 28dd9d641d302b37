package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A client's own connection sends what the shared client sends, dials
// again when the server closes the connection, and reports a request
// that outlives its timeout as a timeout.
func TestWire(t *testing.T) {
	t.Parallel()
	var conns, served atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/slow":
			time.Sleep(300 * time.Millisecond)
		case r.Header.Get("Authorization") != "Bearer lk_k" || r.Header.Get("X-Request-ID") == "" ||
			r.Header.Get("Ledger-Min-Position") != "7" || string(body) != `{"q":1}`:
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if n%2 == 0 {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Ledger-Position", "42")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"s-`+r.Host+`"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	a := &api{base: srv.URL, key: "lk_k", idPrefix: "test-"}
	w, err := newWire(a, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.drop()
	for i := range 6 {
		var out struct{ ID string }
		r, err := w.call(t.Context(), http.MethodPost, "/x", map[string]int{"q": 1}, 7, &out)
		if err != nil || r.status != http.StatusOK || r.position != 42 || !strings.HasPrefix(out.ID, "s-127.0.0.1:") {
			t.Fatalf("request %d: %+v, %v, body %+v", i, r, err, out)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections for 6 requests, every second one closing: want 3", got)
	}

	_, err = w.call(t.Context(), http.MethodGet, "/slow", nil, 0, nil)
	if code := transportCode(err); code != "timeout" {
		t.Errorf("a request past its timeout: %v (%s), want a timeout", err, code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	w.timeout = 10 * time.Second
	if _, err := w.call(ctx, http.MethodGet, "/slow", nil, 0, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a request whose context ends: %v, want context.Canceled", err)
	}
}
