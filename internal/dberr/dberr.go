// Package dberr tells an unreachable database from every other database
// error, so that callers retry outages and answer them as outages (503
// database_unavailable), never as bugs or as poison.
package dberr

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// unavailableStates are the SQLSTATEs a server sends when it cannot serve
// now but will again: class 08 (connection exception) is matched by its
// prefix; these are the rest.
var unavailableStates = map[string]bool{
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now (starting up, recovering)
	"53300": true, // too_many_connections
}

// Unavailable reports whether err says the database could not be reached
// or went away: a refused or broken connection, a server shutting down,
// starting up or in recovery. A query the database answered with any other
// error, and a cancelled context, are not outages.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" || unavailableStates[pgErr.Code]
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.As(err, &netErr):
		// context.DeadlineExceeded is a net.Error too, but says only that
		// the caller stopped waiting.
		return !errors.Is(netErr, context.DeadlineExceeded)
	}
	return false
}
