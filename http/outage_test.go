package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/eventstore"
)

// TestOutagesAreUnavailable maps the errors of an unreachable database,
// however wrapped, to 503 database_unavailable with Retry-After; a
// deadline alone stays a timeout, and an error nobody knows a 500.
func TestOutagesAreUnavailable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	terminated := &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to unexpected postmaster exit"}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"connection refused", fmt.Errorf("load: %w", refused), 503, codeDatabaseUnavailable},
		{"session terminated", fmt.Errorf("append to s: %w: %w", eventstore.ErrRefused, terminated), 503, codeDatabaseUnavailable},
		{"starting up", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, 503, codeDatabaseUnavailable},
		{"connection lost mid-query", fmt.Errorf("query: %w", syscall.ECONNRESET), 503, codeDatabaseUnavailable},
		{"outcome unknown in an outage", fmt.Errorf("append: outcome unknown after 10s: %w", errors.Join(context.Canceled, refused)), 503, codeDatabaseUnavailable},
		{"outage past the deadline", errors.Join(context.DeadlineExceeded, refused), 503, codeDatabaseUnavailable},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, codeTimeout},
		{"unreadable event", fmt.Errorf("decode event at position 7: %w: SubscriptionCreated v1", domain.ErrUnreadableEvent), 503, codeReadModelStale},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, 500, codeInternal},
		{"unknown", errors.New("boom"), 500, codeInternal},
	}
	s := &server{logger: slog.New(slog.DiscardHandler)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/x", nil), rec)
			s.errorHandler(tt.err, c)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), `"code":"`+tt.code+`"`) {
				t.Fatalf("%v answered %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.code)
			}
			if got := rec.Header().Get("Retry-After"); (tt.status == 503) != (got != "") {
				t.Errorf("%v answered %d with Retry-After %q", tt.err, rec.Code, got)
			}
		})
	}
}
