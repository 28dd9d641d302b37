package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// batchTopic carries the batches, each for the projections its metadata
// names, applied in one transaction.
const batchTopic = "projections.batch"

// errRegroup ends a group's subscription so that it starts again with the
// projections whose locks this replica holds now.
var errRegroup = errors.New("projections regroup")

// haltedError names the projections that a poisoned batch halted.
type haltedError struct {
	names []string
	after eventstore.Position
	size  int
}

func (e *haltedError) Error() string {
	return fmt.Sprintf("%s: batch of %d events after position %d: %v", strings.Join(e.names, ", "), e.size, e.after, ErrHalted)
}

func (e *haltedError) Unwrap() error { return ErrHalted }

// followAll runs, as one group, the projections whose advisory locks this
// replica holds: one reader of the log from the lowest of their
// checkpoints, each batch applied to all of them in one transaction, each
// from its own checkpoint. It keeps trying to take the locks it lacks,
// every lockRetry, and regroups when it takes one, so that another replica
// takes over the projections of one that stops. It returns when ctx ends
// or every projection has halted.
func (r *Runner) followAll(ctx context.Context, pub message.Publisher) {
	l := &locks{runner: r, held: make(map[string]*pgxpool.Conn), halted: make(map[string]bool)}
	defer l.releaseAll(ctx)
	for ctx.Err() == nil {
		l.acquire(ctx)
		if len(l.halted) == len(r.projections) {
			return
		}
		if len(l.held) > 0 {
			err := r.followGroup(ctx, pub, l)
			var halted *haltedError
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, errRegroup):
				continue
			case errors.As(err, &halted):
				for _, name := range halted.names {
					r.logger.Error("projection halted", "projection", name, "error", err)
					l.halt(ctx, name)
				}
				continue
			case err != nil:
				r.logger.Warn("projections stopped; retrying", "projections", strings.Join(l.names(), ","), "error", err)
				l.releaseAll(ctx)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.lockRetry):
		}
	}
}

// followGroup feeds the projections whose locks l holds, from the lowest
// of their checkpoints, until ctx ends, something fails, or (when l lacks
// some locks) lockRetry has passed, to try them again.
func (r *Runner) followGroup(ctx context.Context, pub message.Publisher, l *locks) error {
	group := l.projections()
	after, err := r.lowestCheckpoint(ctx, group)
	if err != nil {
		return err
	}
	subCtx := ctx
	if l.missing() {
		var cancel context.CancelFunc
		subCtx, cancel = context.WithTimeoutCause(ctx, r.lockRetry, errRegroup)
		defer cancel()
	}
	err = r.store.Subscribe(subCtx, after, func(ctx context.Context, batch []eventstore.Event) error {
		if err := r.publishGroup(ctx, pub, group, after, batch); err != nil {
			return err
		}
		after = batch[len(batch)-1].Position
		if len(batch) < lingerBelow {
			select {
			case <-ctx.Done():
			case <-time.After(linger):
			}
		}
		return nil
	})
	if ctx.Err() == nil && errors.Is(context.Cause(subCtx), errRegroup) {
		return errRegroup
	}
	return err
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

// publishGroup sends batch through the router to every projection of
// group and waits until it is handled. A batch that the group's
// transaction fails on every retry is sent again to each projection on
// its own, so that only the projections that fail on it halt.
func (r *Runner) publishGroup(ctx context.Context, pub message.Publisher, group []Projection, after eventstore.Position, batch []eventstore.Event) error {
	if len(group) > 1 {
		applied, err := r.send(ctx, pub, names(group), after, batch)
		if err != nil || applied {
			return err
		}
	}
	var halted []string
	for _, p := range group {
		applied, err := r.send(ctx, pub, []string{p.Name()}, after, batch)
		if err != nil {
			return err
		}
		if !applied {
			halted = append(halted, p.Name())
		}
	}
	if len(halted) > 0 {
		return &haltedError{names: halted, after: after, size: len(batch)}
	}
	return nil
}

// send publishes batch for the projections named and says whether it was
// applied, rather than poisoned after every retry.
func (r *Runner) send(ctx context.Context, pub message.Publisher, projections []string, after eventstore.Position, batch []eventstore.Event) (bool, error) {
	payload, err := encodeBatch(batch)
	if err != nil {
		return false, fmt.Errorf("encode batch: %w", err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.SetContext(ctx)
	msg.Metadata.Set("projection", strings.Join(projections, ","))
	msg.Metadata.Set("after", strconv.FormatUint(uint64(after), 10))
	if err := pub.Publish(batchTopic, msg); err != nil {
		return false, fmt.Errorf("publish batch: %w", err)
	}
	if _, ok := r.applied.LoadAndDelete(msg.UUID); ok {
		return true, nil
	}
	return false, ctx.Err()
}

// handleGroup applies one batch message to the projections it names, in
// one transaction: a group's batches, and those sent again to one
// projection alone.
func (r *Runner) handleGroup(msg *message.Message) error {
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
	applied, err := applyGroup(msg.Context(), r.pool, LiveSchema, members, batch, true)
	if err != nil {
		return err
	}
	r.applied.Store(msg.UUID, struct{}{})
	for i, m := range members {
		r.metrics.Applied(m.name, applied[i])
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
	halted map[string]bool
}

// acquire tries to take the lock of every projection neither held nor
// halted.
func (l *locks) acquire(ctx context.Context) {
	for _, p := range l.runner.projections {
		name := p.Name()
		if l.held[name] != nil || l.halted[name] {
			continue
		}
		conn, err := l.runner.pool.Acquire(ctx)
		if err != nil {
			l.warn(ctx, name, err)
			return
		}
		var locked bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&locked); err != nil || !locked {
			conn.Release()
			l.warn(ctx, name, err)
			continue
		}
		l.runner.logger.Info("projection running here", "projection", name)
		l.held[name] = conn
	}
}

func (l *locks) warn(ctx context.Context, name string, err error) {
	if err != nil && ctx.Err() == nil {
		l.runner.logger.Warn("projection lock not taken", "projection", name, "error", err)
	}
}

// missing says whether some projection is neither held nor halted.
func (l *locks) missing() bool { return len(l.held)+len(l.halted) < len(l.runner.projections) }

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

// halt releases a halted projection's lock and never takes it again.
func (l *locks) halt(ctx context.Context, name string) {
	l.release(ctx, name)
	l.halted[name] = true
}

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
