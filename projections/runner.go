package projections

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Retries of a batch that failed for a cause other than its events (the
// database unreachable, restarting, failing over, or refusing for a
// while): the runner lets its locks go and starts again from the
// checkpoints, after a pause that doubles from retryMin to retryMax, for
// as long as it takes. retryMax bounds how long after the database comes
// back the projections resume.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 500 * time.Millisecond
)

// Runner runs projections: each on one replica at a time, from its
// checkpoint, through a Watermill router; those a replica runs share one
// reader of the log and one transaction per batch (see followAll).
type Runner struct {
	pool        *pgxpool.Pool
	store       eventstore.Store
	projections []Projection
	logger      *slog.Logger
	lockRetry   time.Duration
	metrics     *Metrics

	handled sync.Map    // message UUID -> error: how each batch ended, nil when it committed
	failing atomic.Bool // a batch failed, and none committed since
}

// NewRunner returns a runner of projections over store, with read models
// in pool's database.
func NewRunner(pool *pgxpool.Pool, store eventstore.Store, logger *slog.Logger, projections ...Projection) *Runner {
	return &Runner{pool: pool, store: store, projections: projections, logger: logger, lockRetry: time.Second}
}

// WithMetrics makes the runner count the events it applies in m.
func (r *Runner) WithMetrics(m *Metrics) *Runner {
	r.metrics = m
	return r
}

// Run sets the read models up and runs every projection until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if err := Setup(ctx, r.pool, r.projections); err != nil {
		return err
	}
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, r.watermillLogger())
	defer pubsub.Close()
	router, err := r.router(pubsub)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-routerDone:
		return fmt.Errorf("projection router: %w", err)
	}
	r.followAll(ctx, pubsub)
	cancel()
	return <-routerDone
}

func (r *Runner) router(pubsub *gochannel.GoChannel) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, r.watermillLogger())
	if err != nil {
		return nil, fmt.Errorf("projection router: %w", err)
	}
	router.AddConsumerHandler("project", batchTopic, pubsub, r.handleGroup)
	return router, nil
}

// watermillLogger logs Watermill's routine lifecycle messages (info) at
// debug level, its warnings and errors as they are.
func (r *Runner) watermillLogger() watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(r.logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}
