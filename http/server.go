// Package http is the ledger's HTTP interface: the routes and handlers, and
// a server that shuts down gracefully. Other packages import it as
// ledgerhttp.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ledger/eventstore"
)

// ReadyTimeout bounds the database ping behind GET /readyz.
const ReadyTimeout = 2 * time.Second

// Pinger reports whether a dependency answers. *pgxpool.Pool is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the handlers use.
type Deps struct {
	// DB is pinged by GET /readyz; nil reads as not ready.
	DB Pinger
	// Store is the event log the API routes read and append to.
	Store eventstore.Store
	// Logger receives request and failure logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, is served at GET /metrics for Prometheus.
	Metrics prometheus.Gatherer
}

// NewServer returns the ledger's HTTP handler with every route registered.
// Serve it with Serve; echo's own Start prints nothing either, as its
// banner and port line are hidden.
func NewServer(d Deps) *echo.Echo {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(requestLogger(d.Logger), recoverer(d.Logger))
	h := &handlers{deps: d}
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})))
	}
	return e
}

// Serve serves handler on ln until ctx ends. Then it stops accepting
// connections, lets in-flight requests finish within shutdownTimeout, and
// closes whatever is left; requests cut off that way make it return an
// error. A nil logger discards the server's logs.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, shutdownTimeout time.Duration, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if err != nil {
		err = errors.Join(fmt.Errorf("shut down http within %s: %w", shutdownTimeout, err), srv.Close())
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve http: %w", serveErr))
	}
	return err
}

// requestLogger logs each request, at debug level unless it failed on the
// server's side. It hands errors to echo's error handler first, so that the
// logged status is the one sent.
func requestLogger(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			level := slog.LevelDebug
			if status >= http.StatusInternalServerError {
				level = slog.LevelWarn
			}
			attrs := []slog.Attr{
				slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path),
				slog.Int("status", status), slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			}
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			logger.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}

// recoverer turns a handler's panic into a logged 500.
func recoverer(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				r := recover()
				if r == nil {
					return
				}
				if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(r)
				}
				logger.Error("handler panicked", "path", c.Path(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = echo.ErrInternalServerError
			}()
			return next(c)
		}
	}
}
