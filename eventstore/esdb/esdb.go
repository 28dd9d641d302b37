package esdb

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/eventstore"
)

// Store is an eventstore.Store kept in an EventStoreDB or KurrentDB server.
// It is safe for concurrent use. It is eventstore.Limited (see Unkept): a
// program that runs on it prints Warnings when it starts.
type Store struct {
	client *esdb.Client
}

var _ eventstore.Store = (*Store)(nil)

// New returns a Store that uses client. Close closes the client.
func New(client *esdb.Client) *Store {
	return &Store{client: client}
}

// Open connects to the server at connection string conn, such as
// "esdb://localhost:2113?tls=false". The connection is made lazily, on the
// first request.
func Open(conn string) (*Store, error) {
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		return nil, fmt.Errorf("open eventstoredb: parse connection string: %w", redactURL(err))
	}
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("open eventstoredb: %w", err)
	}
	return New(client), nil
}

// Close closes the underlying client and its connections.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close eventstoredb: %w", err)
	}
	return nil
}

// redactURL drops the connection string, which may hold a password, from a
// URL parse error.
func redactURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// expectedRevision maps an expected stream version to the server's expected
// revision, which counts from 0 where versions count from 1.
func expectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch v, exact := e.Version(); {
	case e.IsAny():
		return esdb.Any{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	case exact && v == 0:
		return esdb.NoStream{}
	case exact:
		return esdb.Revision(v - 1)
	default:
		return esdb.Any{}
	}
}

// toPosition maps a server $all position to a ledger Position: its commit
// position. Servers before 22.6 leave positions out of stream reads and the
// client reports them as the maximum uint64; that maps to 0, unknown.
func toPosition(p esdb.Position) eventstore.Position {
	if p.Commit == math.MaxUint64 {
		return 0
	}
	return eventstore.Position(p.Commit)
}

// fromPosition maps a ledger Position back to the server position to read
// or subscribe from. Position 0 is the start of $all.
func fromPosition(p eventstore.Position) esdb.AllPosition {
	if p == 0 {
		return esdb.Start{}
	}
	return esdb.Position{Commit: uint64(p), Prepare: uint64(p)}
}

// isSystem reports whether r is a server event outside the ledger's log: a
// system event or an event in a system stream.
func isSystem(r *esdb.RecordedEvent) bool {
	return strings.HasPrefix(r.EventType, "$") || strings.HasPrefix(r.StreamID, "$")
}

// hasCode reports whether err is a client error with code.
func hasCode(err error, code esdb.ErrorCode) bool {
	var eerr *esdb.Error
	return errors.As(err, &eerr) && eerr.Code() == code
}
