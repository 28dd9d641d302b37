package http_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	ledgerhttp "ledger/http"
)

type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ok := pingFunc(func(context.Context) error { return nil })
	failing := pingFunc(func(context.Context) error {
		return errors.New(`FATAL: password authentication failed for user "ledger"`)
	})
	tests := []struct {
		name     string
		db       ledgerhttp.Pinger
		path     string
		wantCode int
		wantBody string
	}{
		{"healthz without database", nil, "/healthz", 200, `{"status":"ok"}`},
		{"healthz with failing database", failing, "/healthz", 200, `{"status":"ok"}`},
		{"readyz with database", ok, "/readyz", 200, `{"status":"ready"}`},
		{"readyz with failing database", failing, "/readyz", 503, `{"status":"unavailable","reason":"database"}`},
		{"readyz without database", nil, "/readyz", 503, `{"status":"unavailable","reason":"database"}`},
		{"unknown route", ok, "/nope", 404, `{"type":"urn:ledger:problem:not_found","title":"Not found","status":404,"detail":"Not Found","code":"not_found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ledgerhttp.NewServer(ledgerhttp.Deps{DB: tt.db})
			code, body := get(t, srv, tt.path)
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestPanicsBecomeLogged500s(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	srv := ledgerhttp.NewServer(ledgerhttp.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	srv.GET("/panic", func(echo.Context) error { panic("boom") })
	if code, body := get(t, srv, "/panic"); code != http.StatusInternalServerError {
		t.Errorf("GET /panic = %d %s, want 500", code, body)
	}
	for _, want := range []string{`"msg":"handler panicked"`, `"panic":"boom"`, `"msg":"request"`, `"status":500`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs %s lack %s", logs.String(), want)
		}
	}
}

func TestReadyzBoundsThePing(t *testing.T) {
	t.Parallel()
	var left time.Duration
	db := pingFunc(func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		left = time.Until(deadline)
		return nil
	})
	if code, _ := get(t, ledgerhttp.NewServer(ledgerhttp.Deps{DB: db}), "/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200", code)
	}
	if left <= 0 || left > ledgerhttp.ReadyTimeout {
		t.Errorf("ping deadline in %s, want within %s", left, ledgerhttp.ReadyTimeout)
	}
}

func TestServeFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	ctx, stop := context.WithCancel(context.Background())
	ln, served := serve(t, ctx, handler, 10*time.Second)

	got := make(chan string, 1)
	go func() { got <- fetch(ln.Addr().String()) }()
	<-started
	stop()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("server still accepts connections after shutdown began")
	}
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want done", body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestServeCutsOffSlowRequests(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	handler := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ctx, stop := context.WithCancel(context.Background())
	ln, served := serve(t, ctx, handler, 100*time.Millisecond)
	go fetch(ln.Addr().String())
	<-started
	stop()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want the shutdown deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its shutdown timeout")
	}
}

func serve(t *testing.T, ctx context.Context, h http.Handler, timeout time.Duration) (net.Listener, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- ledgerhttp.Serve(ctx, ln, h, timeout, nil) }()
	return ln, served
}

func fetch(addr string) string {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestRequestsTimeOut(t *testing.T) {
	t.Parallel()
	srv := ledgerhttp.NewServer(ledgerhttp.Deps{RequestTimeout: 50 * time.Millisecond})
	srv.GET("/slow", func(c echo.Context) error {
		<-c.Request().Context().Done()
		return c.Request().Context().Err()
	})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slow", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"timeout"`) ||
		rec.Header().Get("Retry-After") == "" {
		t.Fatalf("slow request = %d %s (Retry-After %q), want a 503 timeout problem", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
}
