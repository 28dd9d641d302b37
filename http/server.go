// Package http is the ledger's HTTP interface: the routes of api.md and
// their handlers, the middleware around them, and a server that shuts
// down gracefully. Other packages import it as ledgerhttp.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/audit"
	"ledger/commands"
	"ledger/projections"
)

// Defaults of Deps.
const (
	// ReadyTimeout bounds the checks behind GET /readyz.
	ReadyTimeout = 2 * time.Second
	// DefaultMaxLag is how far behind the log a projection may be, in
	// seconds of events, before /readyz reports the server unready.
	DefaultMaxLag = 30 * time.Second
	// DefaultRequestTimeout bounds each request's work.
	DefaultRequestTimeout = 30 * time.Second
	// MaxBodyBytes is the largest request body accepted, 1 MiB; more is
	// 413.
	MaxBodyBytes = 1 << 20
)

// Timeouts of the HTTP server's connections.
const (
	// ReadHeaderTimeout bounds how long a request's headers may take to
	// arrive.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds how long a whole request, body included, may
	// take to arrive: a body still trickling in then is answered 408 and
	// its connection closed. It is well inside DefaultRequestTimeout.
	ReadTimeout = 15 * time.Second
	// WriteTimeout bounds how long a request may take from the end of
	// its headers to the end of its answer: the request's own timeout
	// and time for a slow reader to take the answer.
	WriteTimeout = DefaultRequestTimeout + 15*time.Second
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout = 2 * time.Minute
)

// Pinger reports whether a dependency answers. *pgxpool.Pool is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the server uses.
type Deps struct {
	// DB is pinged by GET /readyz; nil reads as not ready.
	DB Pinger
	// Pool holds the read models. With Commands, it enables the API
	// routes; without them only the operations routes are served.
	Pool *pgxpool.Pool
	// Commands handles every write, authentication and authorization.
	Commands *commands.Service
	// Logger receives the access log and failures; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, gets the HTTP metrics and is served at
	// GET /metrics.
	Metrics *prometheus.Registry
	// MaxLag is DefaultMaxLag when zero.
	MaxLag time.Duration
	// RequestTimeout is DefaultRequestTimeout when zero.
	RequestTimeout time.Duration
	// Now is the clock of reads ("today" of subscriptions and reports);
	// time.Now when nil.
	Now func() time.Time
	// Readers, when set, tells /readyz whether a transaction left open
	// holds the event log's readers back.
	Readers HeldBack
	// RateLimits are the API's token buckets; the zero value limits nothing.
	RateLimits RateLimits
	// Audit serves the checkpoints and proofs of the tenants' trees
	// (docs/audit.md). Without it, they are read from Pool as the
	// replicas that append and sign left them: no checkpoint is signed on
	// demand.
	Audit *audit.Store
	// Waiter, when set, is how reads wait for Ledger-Min-Position: the
	// one the process's other waiters (its billing index) use, so that one
	// poller reads the checkpoints. Without it the server makes its own.
	Waiter *projections.Waiter
	// Portal, when set, is served at /portal and under /portal/: the
	// partner portal's HTML pages (package portal, docs/portal.md), which
	// are not API routes and are not in the OpenAPI document.
	Portal http.Handler
}

// HeldBack reports how long the event log's readers have been held back
// by a transaction still running (0 when none is), and a description of
// that transaction's session for operators.
type HeldBack func(ctx context.Context) (age time.Duration, holder string, err error)

// server is the handlers' state.
type server struct {
	commands *commands.Service
	pool     *pgxpool.Pool
	db       Pinger
	logger   *slog.Logger
	maxLag   time.Duration
	now      func() time.Time
	readers  HeldBack
	waiter   *projections.Waiter
	limits   *limiter
	// portalPages renders the refusals of portal paths, when the portal
	// can.
	portalPages ProblemPager
	audit       *audit.Store
}

// NewServer returns the ledger's HTTP handler with every route registered.
// Serve it with Serve.
func NewServer(d Deps) *echo.Echo {
	s := &server{commands: d.Commands, pool: d.Pool, db: d.DB, logger: d.Logger, maxLag: d.MaxLag, now: d.Now, readers: d.Readers, audit: auditStore(d)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.maxLag == 0 {
		s.maxLag = DefaultMaxLag
	}
	if s.now == nil {
		s.now = time.Now
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	s.limits = newLimiter(d.RateLimits, d.Metrics)
	s.waiter = d.Waiter
	if s.waiter == nil && s.pool != nil && s.commands != nil {
		s.waiter = projections.NewWaiter(s.pool, s.commands.Head)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.middleware(d)...)
	s.routes(e, d.Metrics)
	if d.Portal != nil {
		s.portalPages, _ = d.Portal.(ProblemPager)
		e.POST("/portal/sign-in", s.limits.portalSignIn(d.Portal))
		e.Any("/portal", echo.WrapHandler(d.Portal))
		e.Any("/portal/*", echo.WrapHandler(d.Portal))
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
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
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
