package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// poisonTopic receives the batches that failed every retry.
const poisonTopic = "projections.poison"

// Live batching: after applying a batch smaller than lingerBelow events,
// the projections linger before reading the next one, so that under a
// steady write load they apply one batch per linger rather than one per
// commit, each batch a transaction of its own. In catch-up, batches are
// full and they never linger.
const (
	linger      = 20 * time.Millisecond
	lingerBelow = 500
)

// ErrHalted reports a projection stopped because a batch failed every
// retry: it went to the poison queue, and the projection will not skip it.
var ErrHalted = errors.New("projection halted on a poisoned batch")

// Runner runs projections: each on one replica at a time, from its
// checkpoint, through a Watermill router; those a replica runs share one
// reader of the log and one transaction per batch (see followAll).
type Runner struct {
	pool        *pgxpool.Pool
	store       eventstore.Store
	projections []Projection
	logger      *slog.Logger
	retries     int
	lockRetry   time.Duration
	metrics     *Metrics

	applied sync.Map // message UUID -> struct{}: batches that committed
}

// NewRunner returns a runner of projections over store, with read models
// in pool's database.
func NewRunner(pool *pgxpool.Pool, store eventstore.Store, logger *slog.Logger, projections ...Projection) *Runner {
	return &Runner{pool: pool, store: store, projections: projections, logger: logger, retries: 3, lockRetry: time.Second}
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
	poison, err := middleware.PoisonQueue(pubsub, poisonTopic)
	if err != nil {
		return nil, fmt.Errorf("poison queue: %w", err)
	}
	retry := middleware.Retry{MaxRetries: r.retries, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second, Multiplier: 2}
	router.AddMiddleware(poison, retry.Middleware)
	router.AddConsumerHandler("project", batchTopic, pubsub, r.handleGroup)
	router.AddConsumerHandler("poisoned", poisonTopic, pubsub, func(msg *message.Message) error {
		r.logger.Error("projection batch poisoned", "projection", msg.Metadata.Get("projection"),
			"after", msg.Metadata.Get("after"), "reason", msg.Metadata.Get(middleware.ReasonForPoisonedKey))
		return nil
	})
	return router, nil
}

// watermillLogger logs Watermill's routine lifecycle messages (info) at
// debug level, its warnings and errors as they are.
func (r *Runner) watermillLogger() watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(r.logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}
