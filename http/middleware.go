package http

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/domain"
)

// middleware is the chain around every route, outermost first: request
// ids, access log, metrics, panic recovery, response headers, header
// checks, body limit, timeout.
func (s *server) middleware(d Deps) []echo.MiddlewareFunc {
	chain := []echo.MiddlewareFunc{requestIDs, s.accessLog()}
	if d.Metrics != nil {
		chain = append(chain, requestMetrics(d.Metrics))
	}
	return append(chain,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisablePrintStack: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.logger.ErrorContext(c.Request().Context(), "handler panicked", "request_id", requestID(c),
					"route", c.Path(), "panic", err.Error(), "stack", string(stack))
				return err
			},
		}),
		noStore,
		checkHeaders,
		s.limitBody,
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: d.RequestTimeout}),
	)
}

// standardMethods are the methods that metrics and logs name as sent;
// any other is "other", so that no client can grow a label set.
var standardMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// methodLabel is method as metrics and logs name it.
func methodLabel(method string) string {
	if standardMethods[method] {
		return method
	}
	return "other"
}

// routeLabel is the route template that matched c, "unmatched" when none
// did: never the path as sent.
func routeLabel(c echo.Context) string {
	if c.Path() == "" {
		return "unmatched"
	}
	return c.Path()
}

// accessLog logs one JSON line per request: method, route, status,
// latency and request id; never headers, keys or bodies. Failures on the
// server's side are warnings, refusals informational.
func (s *server) accessLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError: true,
		LogMethod:   true,
		LogURIPath:  true,
		LogStatus:   true,
		LogLatency:  true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= http.StatusInternalServerError {
				level = slog.LevelWarn
			}
			if !s.logger.Enabled(c.Request().Context(), level) {
				return nil
			}
			attrs := []slog.Attr{
				slog.String("request_id", requestID(c)), slog.String("method", methodLabel(v.Method)),
				slog.String("path", v.URIPath), slog.String("route", routeLabel(c)), slog.Int("status", v.Status),
				slog.Float64("latency_ms", float64(v.Latency.Microseconds())/1000),
			}
			if p := principalOf(c); p.Type != "" {
				attrs = append(attrs, slog.String("actor_type", string(p.Type)), slog.String("actor_id", p.ID.String()))
			}
			s.logger.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		},
	})
}

// requestMetrics counts requests and their latency by method (the
// standard ones, else "other"), route template ("unmatched" when none
// matched) and status.
func requestMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ledger_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by method, route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "status"})
	reg.MustRegister(duration)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			duration.WithLabelValues(methodLabel(c.Request().Method), routeLabel(c), strconv.Itoa(c.Response().Status)).
				Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// authenticate resolves the bearer key of a read to its principal, on the
// state of its owner read from the event store, on every request: a
// removed user's key fails at once on every replica.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, err := bearerKey(c)
		if err != nil {
			return err
		}
		p, err := s.commands.Authenticate(c.Request().Context(), key)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// credential keeps the bearer key of a write for its command, which
// authenticates it itself, on the states its append is conditioned on
// (commands.Request.Key). The key is first recognised on the state kept
// of its owner, so that a key that names no active user is refused before
// the request is read, and the access log can name the actor. A write
// that fails, whatever the reason, is answered only once its key is
// confirmed on the current state of its owner: a user removed on another
// replica gets 401, even for a malformed body.
func (s *server) credential(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, err := bearerKey(c)
		if err != nil {
			return err
		}
		p, err := s.commands.Recognize(c.Request().Context(), key)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		c.Set(apiKeyKey, key)
		err = next(c)
		if err == nil || errors.Is(err, errRateLimited) { // a limited request costs no database read
			return err
		}
		if _, cerr := s.commands.Authenticate(c.Request().Context(), key); errors.Is(cerr, domain.ErrUnauthenticated) {
			return cerr
		}
		return err
	}
}

// bearerKey is the API key of c's Authorization header.
func bearerKey(c echo.Context) (string, error) {
	scheme, key, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", domain.Unauthenticated()
	}
	return strings.TrimSpace(key), nil
}
