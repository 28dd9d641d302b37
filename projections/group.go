package projections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/internal/dberr"
)

// batchTopic carries the batches, each for the projections its metadata
// names, applied in one transaction.
const batchTopic = "projections.batch"

// errRegroup ends a group's subscription so that it starts again with the
// projections whose locks this replica holds now.
var errRegroup = errors.New("projections regroup")

// followAll runs, as one group, the projections whose advisory locks this
// replica holds: one reader of the log from the lowest of their
// checkpoints, each batch applied to all of them in one transaction, each
// from its own checkpoint. It keeps trying to take the locks it lacks,
// every lockRetry, and regroups when it takes one, so that another replica
// takes over the projections of one that stops.
//
// Events a projection cannot apply are parked (see applyGroup), so a
// batch fails only for another cause: an outage, a conflict, a table
// missing. Then it lets every lock go (an outage may have taken them with
// its connections) and starts again, after a pause of retryMin doubling
// up to retryMax, as long as it takes: the projections resume by
// themselves once the database is back. It returns when ctx ends.
func (r *Runner) followAll(ctx context.Context, pub message.Publisher) {
	l := &locks{runner: r, held: make(map[string]*pgxpool.Conn)}
	defer l.releaseAll(ctx)
	pause := time.Duration(0)
	for ctx.Err() == nil {
		err := l.acquire(ctx)
		if len(l.held) > 0 {
			progressed, groupErr := r.followGroup(ctx, pub, l)
			if ctx.Err() != nil {
				return
			}
			if progressed {
				pause = 0
			}
			if !errors.Is(groupErr, errRegroup) {
				l.releaseAll(ctx)
				err = groupErr
			} else if err == nil {
				continue
			}
		}
		wait := r.lockRetry
		if err != nil {
			pause = min(max(2*pause, retryMin), retryMax)
			r.logFailure(err, pause)
			r.failing.Store(true)
			wait = pause
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// logFailure logs why the projections stopped, as a warning for an
// outage, which is expected to pass, as an error otherwise.
func (r *Runner) logFailure(err error, retryIn time.Duration) {
	if dberr.Unavailable(err) {
		r.logger.Warn("database unavailable; projections retry", "retry_in", retryIn, "error", err)
		return
	}
	r.logger.Error("projections stopped; retrying", "retry_in", retryIn, "error", err)
}

// followGroup feeds the projections whose locks l holds, from the lowest
// of their checkpoints, until ctx ends, something fails, or (when l lacks
// some locks) lockRetry has passed, to try them again, or one of its
// locks' sessions has ended (see watch). It says whether it applied any
// batch.
func (r *Runner) followGroup(ctx context.Context, pub message.Publisher, l *locks) (progressed bool, err error) {
	group := l.projections()
	after, err := r.lowestCheckpoint(ctx, group)
	if err != nil {
		return false, err
	}
	subCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if l.missing() {
		timer := time.AfterFunc(r.lockRetry, func() { cancel(errRegroup) })
		defer timer.Stop()
	}
	watched := l.watch(subCtx, cancel)
	defer watched()
	err = r.store.Subscribe(subCtx, after, func(ctx context.Context, batch []eventstore.Event) error {
		if err := r.send(ctx, pub, names(group), after, batch); err != nil {
			return err
		}
		after, progressed = batch[len(batch)-1].Position, true
		return nil
	})
	if ctx.Err() == nil && errors.Is(context.Cause(subCtx), errRegroup) {
		return progressed, errRegroup
	}
	return progressed, err
}

func (r *Runner) lowestCheckpoint(ctx context.Context, group []Projection) (eventstore.Position, error) {
	var from int64
	err := r.pool.QueryRow(ctx, `SELECT coalesce(min(position), 0) FROM `+table(LiveSchema, "checkpoints")+` WHERE name = ANY($1)`,
		names(group)).Scan(&from)
	if err != nil {
		return 0, fmt.Errorf("read checkpoints: %w", err)
	}
	return eventstore.Position(from), nil
}

// send publishes batch through the router for the projections named and
// waits until it is handled: nil when it committed, else why not.
func (r *Runner) send(ctx context.Context, pub message.Publisher, projections []string, after eventstore.Position, batch []eventstore.Event) error {
	payload, err := encodeBatch(batch)
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.SetContext(ctx)
	msg.Metadata.Set("projection", strings.Join(projections, ","))
	msg.Metadata.Set("after", strconv.FormatUint(uint64(after), 10))
	if err := pub.Publish(batchTopic, msg); err != nil {
		return fmt.Errorf("publish batch: %w", err)
	}
	result, ok := r.handled.LoadAndDelete(msg.UUID)
	switch {
	case !ok && ctx.Err() != nil:
		return ctx.Err()
	case !ok:
		return errors.New("batch not handled")
	case result != nil:
		return result.(error)
	}
	return nil
}

// handleGroup applies one batch message to the projections it names, in
// one transaction, parking the events a projection cannot apply. It
// records how the batch ended for send, and acknowledges it whatever
// happened: a batch that failed is read again from the checkpoints.
func (r *Runner) handleGroup(msg *message.Message) error {
	r.handled.Store(msg.UUID, r.applyMessage(msg))
	return nil
}

func (r *Runner) applyMessage(msg *message.Message) error {
	batch, err := decodeBatch(msg.Payload)
	if err != nil {
		return fmt.Errorf("decode batch: %w", err)
	}
	var members []member
	for _, name := range strings.Split(msg.Metadata.Get("projection"), ",") {
		p, ok := r.byName(name)
		if !ok {
			return fmt.Errorf("batch for unknown projection %q", name)
		}
		members = append(members, member{name: name, apply: p.Apply})
	}
	outcomes, err := applyGroup(msg.Context(), r.pool, LiveSchema, members, batch, true)
	if err != nil {
		return err
	}
	if r.failing.Swap(false) {
		r.logger.Info("projections running again", "projections", strings.Join(names(r.projections), ","))
	}
	for i, m := range members {
		r.metrics.Applied(m.name, outcomes[i].applied)
		r.metrics.Parked(m.name, len(outcomes[i].parked))
		for _, e := range outcomes[i].parked {
			r.logger.Error("event parked", "projection", m.name, "position", uint64(e.position), "stream", e.stream,
				"type", e.eventType, "reason", e.reason)
		}
	}
	return nil
}

func (r *Runner) byName(name string) (Projection, bool) {
	for _, p := range r.projections {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

func names(ps []Projection) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

// locks are the projections' advisory locks this replica holds, each on
// a connection of its own: if the replica dies, its connections close and
// another replica takes the locks.
type locks struct {
	runner *Runner
	held   map[string]*pgxpool.Conn
}

// acquire tries to take the lock of every projection not held. It
// returns the error that kept it from asking for one.
func (l *locks) acquire(ctx context.Context) error {
	l.dropDead(ctx)
	for _, p := range l.runner.projections {
		name := p.Name()
		if l.held[name] != nil {
			continue
		}
		conn, err := l.runner.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("take the lock of %s: %w", name, err)
		}
		var locked bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&locked); err != nil || !locked {
			conn.Release()
			if err != nil {
				return fmt.Errorf("take the lock of %s: %w", name, err)
			}
			continue
		}
		l.runner.logger.Info("projection running here", "projection", name)
		l.held[name] = conn
	}
	return nil
}

// watch checks, every lockRetry until ctx ends, that the sessions holding
// l's locks are alive, and cancels with errRegroup when one is not: a
// restart of the database ends them, and with them the locks, without a
// word to this replica, which would then run projections that another
// replica may take. acquire drops the dead ones. The returned func stops
// the watch and waits for it.
func (l *locks) watch(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	conns := slices.Collect(maps.Values(l.held))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.runner.lockRetry):
			}
			for _, conn := range conns {
				if err := conn.Ping(ctx); err != nil && ctx.Err() == nil {
					cancel(errRegroup)
					return
				}
			}
		}
	}()
	return func() { cancel(nil); <-done }
}

// dropDead lets go of the locks whose sessions ended.
func (l *locks) dropDead(ctx context.Context) {
	for name, conn := range l.held {
		if err := conn.Ping(ctx); err != nil {
			l.runner.logger.Warn("projection lock lost with its session; taking it again", "projection", name, "error", err)
			conn.Release()
			delete(l.held, name)
		}
	}
}

// missing says whether some projection is not held.
func (l *locks) missing() bool { return len(l.held) < len(l.runner.projections) }

// projections are the held projections, in the runner's order.
func (l *locks) projections() []Projection {
	var out []Projection
	for _, p := range l.runner.projections {
		if l.held[p.Name()] != nil {
			out = append(out, p)
		}
	}
	return out
}

func (l *locks) names() []string { return names(l.projections()) }

func (l *locks) release(ctx context.Context, name string) {
	conn := l.held[name]
	if conn == nil {
		return
	}
	_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey(name))
	conn.Release()
	delete(l.held, name)
}

func (l *locks) releaseAll(ctx context.Context) {
	for name := range l.held {
		l.release(ctx, name)
	}
}
