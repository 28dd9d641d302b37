package dberr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"ledger/internal/pgtest"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", fmt.Errorf("query: %w", &pgconn.PgError{Code: "08006"}), true},
		{"numeric overflow", &pgconn.PgError{Code: "22003"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", syscall.ECONNRESET, true},
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"closed connection", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"cancelled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"deadline wrapped", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := Unavailable(tt.err); got != tt.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestUnavailableFromTheDriver classifies errors as pgx returns them from
// a real server: a refused connection, a session the server terminated, a
// connection closed, a deadline, and a query the server refused.
func TestUnavailableFromTheDriver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connect := func(t *testing.T) *pgx.Conn {
		t.Helper()
		conn, err := pgx.ConnectConfig(ctx, pgtest.BaseConfig(t))
		if err != nil {
			t.Fatalf("connect to the test server: %v", err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want bool
	}{
		{"connection refused", func(t *testing.T) error {
			cfg := pgtest.BaseConfig(t)
			cfg.Host, cfg.Port = "127.0.0.1", uint16(closedPort(t))
			_, err := pgx.ConnectConfig(ctx, cfg)
			return err
		}, true},
		{"terminated by the server", func(t *testing.T) error {
			conn := connect(t)
			_, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			if err == nil {
				_, err = conn.Exec(ctx, `SELECT 1`)
			}
			return err
		}, true},
		{"closed connection", func(t *testing.T) error {
			conn := connect(t)
			conn.Close(ctx)
			_, err := conn.Exec(ctx, `SELECT 1`)
			return err
		}, true},
		{"deadline", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := connect(t).Exec(ctx, `SELECT pg_sleep(5)`)
			return err
		}, false},
		{"undefined table", func(t *testing.T) error {
			_, err := connect(t).Exec(ctx, `SELECT * FROM no_such_table`)
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			if got := Unavailable(err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
