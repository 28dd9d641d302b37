// Package postgres is the default eventstore.Store backend, on PostgreSQL
// through pgx.
//
// The database enforces optimistic concurrency: a unique constraint on
// (stream, version) refuses a second writer of the same version. Global
// positions are derived from the writing transaction's id, and readers only
// read below the oldest transaction still running, so no reader ever skips
// an event that commits late. Appends never NOTIFY: subscribers in this
// process are woken directly, and one coalesced NOTIFY outside the append
// transactions wakes subscribers in other processes, with polling as a
// fallback.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"ledger/eventstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the Postgres event store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	opts   options
	wake   *broadcaster
	notify chan struct{} // signals the notifier that events were committed

	heldSince  firstSeen    // since when the horizon has held readers back
	seen       atomic.Int64 // the highest position seen committed: the floor of appends
	seeded     atomic.Bool  // the log's head has been read into seen
	readAllSQL string       // the global-log query; replaced only by tests
	noLocks    bool         // appends take no advisory locks; set only by tests, to show what the locks prevent

	appending atomic.Int64  // appends in progress: alone, one is not grouped
	queue     chan *queued  // single-event appends offered for grouping
	closed    chan struct{} // closed once the grouping workers have stopped

	stop     context.CancelFunc
	done     sync.WaitGroup
	closeOne sync.Once
}

var _ eventstore.Store = (*Store)(nil)

type options struct {
	pollInterval   time.Duration
	notifyInterval time.Duration
	batchSize      int
	logger         *slog.Logger
}

// Option configures a Store.
type Option func(*options)

// WithPollInterval sets how often an idle subscriber polls the log when no
// wake-up arrives. The default is 500 ms.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// WithNotifyInterval sets the least time between two NOTIFYs that this store
// sends to wake subscribers in other processes. The default is 5 ms.
func WithNotifyInterval(d time.Duration) Option { return func(o *options) { o.notifyInterval = d } }

// WithBatchSize sets how many events a subscription reads at a time. The
// default is 1000.
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// WithLogger sets the logger for background work. The default is slog's.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New returns a store on pool, whose database must have been migrated with
// Migrate. It starts the goroutines that carry wake-ups between processes
// and group concurrent appends; Close stops them (appends then run alone).
// Close does not close the pool, but must come before the pool's Close:
// the grouping worker holds one of its connections until then.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	o := options{pollInterval: 500 * time.Millisecond, notifyInterval: 5 * time.Millisecond, batchSize: 1000, logger: slog.Default()}
	for _, apply := range opts {
		apply(&o)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{
		pool: pool, opts: o, wake: newBroadcaster(), notify: make(chan struct{}, 1),
		readAllSQL: readAllSQL, stop: stop, queue: make(chan *queued), closed: make(chan struct{}),
	}
	s.done.Add(3)
	go func() { defer s.done.Done(); s.listen(ctx) }()
	go func() { defer s.done.Done(); s.notifyLoop(ctx) }()
	go func() { defer s.done.Done(); s.groupAppends(ctx) }()
	return s
}

// Close stops the store's background goroutines. Subscriptions keep polling
// until their contexts end.
func (s *Store) Close() {
	s.closeOne.Do(func() {
		s.stop()
		s.done.Wait()
		close(s.closed)
	})
}

// Migrate applies the event store's embedded migrations that the database
// lacks. Several processes may call it at once: a session advisory lock lets
// one apply them while the others wait.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	return migrate(ctx, db)
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
