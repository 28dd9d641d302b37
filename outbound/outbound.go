// Package outbound publishes every committed event of the ledger's log to
// a message broker, NATS JetStream or RabbitMQ, through Watermill's adapter
// for it: at least once, in log order (so in order within each stream),
// with the event id as the Watermill message UUID, from a checkpoint of
// its own in Postgres.
//
// One replica at a time publishes (a Postgres advisory lock); the others
// wait and take over when it stops or dies. The checkpoint moves only
// after the broker has confirmed a batch, so a crash in between publishes
// that batch again: consumers drop duplicates by message UUID. See
// docs/outbound.md.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Defaults of the options.
const (
	// DefaultTopic is the NATS subject or AMQP routing key of every message.
	DefaultTopic = "ledger.events"
	// DefaultExchange is the durable AMQP topic exchange published to.
	DefaultExchange = "ledger"
	// DefaultStream is the JetStream stream created for the topic when no
	// stream takes its subject yet.
	DefaultStream = "LEDGER_EVENTS"
	// DefaultBatchSize bounds the events published between two checkpoints.
	DefaultBatchSize = 100
)

// undefinedTable is the SQLSTATE of a query on a table that does not
// exist.
const undefinedTable = "42P01"

// shutdownGrace is how long a batch in flight when Run's context ends may
// take to be confirmed and checkpointed, so that a clean stop republishes
// nothing.
const shutdownGrace = 10 * time.Second

type options struct {
	topic, exchange, stream, name string
	batchSize                     int
	lockRetry                     time.Duration
}

// Option configures a Publisher.
type Option func(*options)

// WithTopic sets the NATS subject or AMQP routing key that every message
// is published to. The default is DefaultTopic.
func WithTopic(topic string) Option { return func(o *options) { o.topic = topic } }

// WithExchange sets the AMQP exchange, declared as a durable topic
// exchange. The default is DefaultExchange. NATS ignores it.
func WithExchange(name string) Option { return func(o *options) { o.exchange = name } }

// WithStream sets the name of the JetStream stream that the publisher
// creates when no stream takes the topic's subject. The default is
// DefaultStream. AMQP ignores it.
func WithStream(name string) Option { return func(o *options) { o.stream = name } }

// WithName sets the name of the publisher's checkpoint and lock. The
// default is the broker kind and the topic, e.g. "nats:ledger.events", so
// that a new broker or topic starts from the beginning of the log.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithBatchSize sets how many events at most are published between two
// checkpoints: the most that a crash can publish twice. The default is
// DefaultBatchSize.
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// Publisher publishes the event log to a broker. Create it with New, run
// it with Run, and Close it after Run has returned.
type Publisher struct {
	pool   *pgxpool.Pool
	store  eventstore.Store
	logger *slog.Logger
	pub    message.Publisher
	kind   string
	opts   options

	// beforeSave, when set (by tests), runs after a batch is confirmed and
	// before its checkpoint is saved; an error stops the run there.
	beforeSave func(batch []eventstore.Event) error
	published  atomic.Int64 // events confirmed by the broker
}

// New connects to the broker that rawURL names, by its scheme: nats:// for
// NATS JetStream (creating the stream if no stream takes the topic yet),
// amqp:// or amqps:// for RabbitMQ. The checkpoint lives in pool's
// database, which must also hold the events table when store is the
// Postgres store. Run holds one of pool's connections while it publishes.
func New(ctx context.Context, rawURL string, pool *pgxpool.Pool, store eventstore.Store, logger *slog.Logger, opts ...Option) (*Publisher, error) {
	kind, err := kindOf(rawURL)
	if err != nil {
		return nil, err
	}
	o, err := newOptions(kind, opts)
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "outbound", "broker", kind, "topic", o.topic)
	pub, err := dial(ctx, kind, rawURL, o, watermill.NewSlogLogger(logger))
	if err != nil {
		return nil, err
	}
	logger.Info("outbound publisher connected", "url", redact(rawURL))
	return &Publisher{pool: pool, store: store, logger: logger, pub: pub, kind: kind, opts: o}, nil
}

// newOptions applies opts to the defaults for a broker of kind.
func newOptions(kind string, opts []Option) (options, error) {
	o := options{topic: DefaultTopic, exchange: DefaultExchange, stream: DefaultStream, batchSize: DefaultBatchSize, lockRetry: time.Second}
	for _, apply := range opts {
		apply(&o)
	}
	if o.name == "" {
		o.name = kind + ":" + o.topic
	}
	if o.topic == "" || o.batchSize < 1 {
		return options{}, fmt.Errorf("outbound options: topic %q, batch size %d: need a topic and a batch size of at least 1", o.topic, o.batchSize)
	}
	return o, nil
}

// Name returns the name of the publisher's checkpoint and lock.
func (p *Publisher) Name() string { return p.opts.name }

// Checkpoint returns the position of the last event that the broker has
// confirmed, or 0 before Run has set the checkpoint up.
func (p *Publisher) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	var pos int64
	err := p.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM outbound_checkpoint WHERE name = $1`, p.opts.name).Scan(&pos)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == undefinedTable {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", p.opts.name, err)
	}
	return eventstore.Position(pos), nil
}

// Close closes the connection to the broker. Call it after Run returns.
func (p *Publisher) Close() error {
	if err := p.pub.Close(); err != nil {
		return fmt.Errorf("close %s publisher: %w", p.kind, err)
	}
	return nil
}

// Run publishes the log from the checkpoint, first what is stored, then
// each event as it commits, while this replica holds the publisher's
// lock; while another replica holds it, Run waits and retries every
// second. A failure (broker or database) is logged and retried from the
// checkpoint. When ctx ends, Run lets the batch in flight finish and be
// checkpointed, then returns nil.
func (p *Publisher) Run(ctx context.Context) error {
	ready, waiting := false, false
	for ctx.Err() == nil {
		var ran bool
		err := setupOnce(ctx, p.pool, p.opts.name, &ready)
		if err == nil {
			ran, err = p.runLocked(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.logger.Warn("outbound publishing stopped; retrying", "checkpoint", p.opts.name, "error", err)
		case !ran && !waiting:
			p.logger.Info("outbound publisher waiting: another replica publishes", "checkpoint", p.opts.name)
		}
		waiting = !ran && err == nil
		select {
		case <-ctx.Done():
		case <-time.After(p.opts.lockRetry):
		}
	}
	return nil
}

func setupOnce(ctx context.Context, pool *pgxpool.Pool, name string, ready *bool) error {
	if *ready {
		return nil
	}
	err := setup(ctx, pool, name)
	*ready = err == nil
	return err
}

// runLocked takes the publisher's lock, if free, on a connection of its
// own, and publishes from the checkpoint until ctx ends or something
// fails. It reports whether it held the lock. The lock goes with the
// connection: if this replica dies, another takes over.
func (p *Publisher) runLocked(ctx context.Context) (bool, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release()
	locked, err := tryLock(ctx, conn, p.opts.name)
	if err != nil || !locked {
		return false, err
	}
	defer unlock(ctx, conn, p.opts.name)
	after, err := readCheckpoint(ctx, conn, p.opts.name)
	if err != nil {
		return true, err
	}
	p.logger.Info("outbound publisher running here", "checkpoint", p.opts.name, "after", uint64(after))
	err = p.store.Subscribe(ctx, after, func(ctx context.Context, batch []eventstore.Event) error {
		return p.publishAll(ctx, conn, batch)
	})
	return true, err
}

// publishAll publishes batch in slices of at most the batch size, saving
// the checkpoint after the broker confirms each.
func (p *Publisher) publishAll(ctx context.Context, conn *pgxpool.Conn, batch []eventstore.Event) error {
	for len(batch) > 0 {
		n := min(len(batch), p.opts.batchSize)
		if err := p.publishBatch(ctx, conn, batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// publishBatch publishes batch, in order, waits until the broker has
// confirmed every message, and moves the checkpoint past it. It carries
// on for a while after ctx ends, so that a clean stop leaves nothing to
// publish twice.
func (p *Publisher) publishBatch(ctx context.Context, conn *pgxpool.Conn, batch []eventstore.Event) error {
	ctx, cancel := outlive(ctx, shutdownGrace)
	defer cancel()
	msgs := make([]*message.Message, len(batch))
	for i, e := range batch {
		msg, err := NewMessage(e)
		if err != nil {
			return err
		}
		msg.SetContext(ctx)
		msgs[i] = msg
	}
	first, last := batch[0].Position, batch[len(batch)-1].Position
	began := time.Now()
	if err := p.pub.Publish(p.opts.topic, msgs...); err != nil {
		return fmt.Errorf("publish positions %d to %d to %s: %w", first, last, p.opts.topic, err)
	}
	p.published.Add(int64(len(batch)))
	if p.beforeSave != nil {
		if err := p.beforeSave(batch); err != nil {
			return err
		}
	}
	if err := saveCheckpoint(ctx, conn, p.opts.name, last); err != nil {
		return err
	}
	p.logger.Debug("outbound batch published", "events", len(batch), "first", uint64(first), "last", uint64(last),
		"took", time.Since(began).Round(time.Microsecond))
	return nil
}

// outlive returns a context that ends grace after ctx ends, or when the
// returned cancel is called.
func outlive(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	detached, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-timer.C:
			cancel()
		case <-detached.Done():
		}
	})
	return detached, func() { stop(); cancel() }
}
