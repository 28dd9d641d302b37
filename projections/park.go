package projections

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/eventstore"
	"ledger/internal/dberr"
)

// parkedTable is the dead-letter table of a read-model schema: the events
// each projection could not apply, and those it skipped after them in
// their streams. A stream with a row for a projection is stale in that
// projection's read model until `ledger projections rebuild --stream`
// applies its parked events again.
const parkedTable = "parked_events"

// parkedDDL creates schema's dead-letter table.
func parkedDDL(schema string) string {
	t := table(schema, parkedTable)
	return fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
    projection text        NOT NULL,
    position   bigint      NOT NULL,
    stream     text        NOT NULL,
    tenant_id  uuid,
    event_type text        NOT NULL,
    error      text        NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
CREATE INDEX IF NOT EXISTS parked_events_stream ON %[1]s (projection, stream);
CREATE INDEX IF NOT EXISTS parked_events_tenant ON %[1]s (tenant_id, projection)`, t)
}

// skippedReason is the error a parked row records for an event skipped
// because an earlier event of its stream is parked.
const skippedReason = "skipped: an earlier event of its stream is parked"

// maxReasonBytes bounds the error text a parked row keeps.
const maxReasonBytes = 1000

// errPanicked reports a projection that panicked on a batch.
var errPanicked = errors.New("projection panicked")

// parkedEvent is an event a projection did not apply, and why.
type parkedEvent struct {
	position  eventstore.Position
	stream    string
	tenant    string
	eventType string
	reason    string
}

// outcome is what a batch did to one projection.
type outcome struct {
	applied int
	parked  []parkedEvent
}

// applyError is a projection's failure to apply events, as opposed to a
// failure of the transaction around it.
type applyError struct {
	projection string
	err        error
	tried      span // the events it failed on
}

// span identifies a run of a batch's events: its first and last
// positions, and how many.
type span struct {
	first, last eventstore.Position
	n           int
}

func spanOf(events []eventstore.Event) span {
	if len(events) == 0 {
		return span{}
	}
	return span{first: events[0].Position, last: events[len(events)-1].Position, n: len(events)}
}

func (e *applyError) Error() string { return fmt.Sprintf("apply %s: %v", e.projection, e.err) }
func (e *applyError) Unwrap() error { return e.err }

// eventsFault reports whether err, returned by a projection applying
// events on a connection that works, may be the events' fault: a value
// the read model cannot hold (SQLSTATE classes 21, 22, 23), or an error
// of the projection's own code (decoding, a row an event should have
// found, a panic). An outage, a transient conflict, or a database error
// of another class (a table missing, a disk full, a permission) is the
// environment's: retried, never parked.
func eventsFault(err error) bool {
	if err == nil || dberr.Unavailable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "21", "22", "23":
			return true
		}
		return false
	}
	return true
}

// parker applies events to one projection inside a transaction and
// parks those it cannot apply, with the later events of their streams.
type parker struct {
	tx     pgx.Tx
	schema string
	m      member
	stale  map[string]bool // streams with parked events in the projection
	parked []parkedEvent
	// failed is how the projection failed on the batch unguarded, just
	// before: the same events need not be tried again whole.
	failed *applyError
}

// run applies events, after the projection's checkpoint, and records what
// it parked. Unguarded, events of stale streams are parked and the rest
// applied at once, any failure failing the transaction. Guarded, each
// attempt runs in a savepoint, and a failing run of events is split in
// halves until the events at fault are found and parked.
func (p *parker) run(ctx context.Context, events []eventstore.Event, guarded bool) (outcome, error) {
	var err error
	var tried span
	if guarded {
		err = p.isolate(ctx, events)
	} else if fresh := p.skipStale(events); len(fresh) > 0 {
		err, tried = safeApply(ctx, p.m.apply, p.tx, p.schema, fresh), spanOf(fresh)
	}
	if err != nil {
		return outcome{}, &applyError{projection: p.m.name, err: err, tried: tried}
	}
	if err := p.save(ctx); err != nil {
		return outcome{}, fmt.Errorf("park events of %s: %w", p.m.name, err)
	}
	return outcome{applied: len(events) - len(p.parked), parked: p.parked}, nil
}

// isolate applies events in savepoints, parking those at fault. It
// returns the first error that is not the events' fault.
func (p *parker) isolate(ctx context.Context, events []eventstore.Event) error {
	events = p.skipStale(events)
	if len(events) == 0 {
		return nil
	}
	var err error
	if f := p.failed; f != nil && f.tried == spanOf(events) {
		p.failed, err = nil, &eventFault{err: f.err}
	} else {
		err = p.trySavepoint(ctx, events)
	}
	var fault *eventFault
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &fault) || ctx.Err() != nil:
		return err
	case len(events) == 1:
		p.park(events[0], fault.err)
		return nil
	}
	half := len(events) / 2
	if err := p.isolate(ctx, events[:half]); err != nil {
		return err
	}
	return p.isolate(ctx, events[half:])
}

// eventFault is an error that the events applied in a savepoint may be
// at fault for.
type eventFault struct{ err error }

func (e *eventFault) Error() string { return e.err.Error() }
func (e *eventFault) Unwrap() error { return e.err }

// trySavepoint applies events in a savepoint, rolled back when they fail.
// A failure the events may be at fault for comes back as an eventFault;
// one of the savepoint itself, or of the environment, as it is.
func (p *parker) trySavepoint(ctx context.Context, events []eventstore.Event) error {
	sp, err := p.tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := safeApply(ctx, p.m.apply, sp, p.schema, events); err != nil {
		if rbErr := sp.Rollback(ctx); rbErr != nil {
			return fmt.Errorf("roll back to savepoint: %w (after %w)", rbErr, err)
		}
		if eventsFault(err) {
			return &eventFault{err: err}
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// safeApply calls apply, turning a panic into an error: an event that
// makes a projection panic is parked like one it fails on.
func safeApply(ctx context.Context, apply applyFunc, tx pgx.Tx, schema string, events []eventstore.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return apply(ctx, tx, schema, events)
}

// skipStale parks the events of stale streams and returns the others.
func (p *parker) skipStale(events []eventstore.Event) []eventstore.Event {
	if len(p.stale) == 0 {
		return events
	}
	kept := make([]eventstore.Event, 0, len(events))
	for _, e := range events {
		if p.stale[e.Stream] {
			p.parked = append(p.parked, parkedOf(e, skippedReason))
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// park parks e, which failed with err, and marks its stream stale.
func (p *parker) park(e eventstore.Event, err error) {
	p.parked = append(p.parked, parkedOf(e, err.Error()))
	if p.stale == nil {
		p.stale = map[string]bool{}
	}
	p.stale[e.Stream] = true
}

func parkedOf(e eventstore.Event, reason string) parkedEvent {
	return parkedEvent{position: e.Position, stream: e.Stream, tenant: e.Metadata.TenantID, eventType: e.Type, reason: truncate(reason, maxReasonBytes)}
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// save writes the parked rows.
func (p *parker) save(ctx context.Context) error {
	n := len(p.parked)
	if n == 0 {
		return nil
	}
	positions, streams, tenants := make([]int64, n), make([]string, n), make([]pgtype.UUID, n)
	types, reasons := make([]string, n), make([]string, n)
	for i, e := range p.parked {
		positions[i], streams[i], types[i], reasons[i] = int64(e.position), e.stream, e.eventType, e.reason
		tenants[i] = lenientUUID(e.tenant)
	}
	_, err := p.tx.Exec(ctx, `INSERT INTO `+table(p.schema, parkedTable)+` (projection, position, stream, tenant_id, event_type, error)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::uuid[], $5::text[], $6::text[]) ON CONFLICT DO NOTHING`,
		p.m.name, positions, streams, tenants, types, reasons)
	return err
}

// applyGuarded applies events to p inside tx, in schema, parking those it
// cannot apply, as a guarded run of applyGroup does: for a catch-up
// within a longer transaction, which a failure would undo whole.
func applyGuarded(ctx context.Context, tx pgx.Tx, schema string, p Projection, events []eventstore.Event) error {
	rows, err := tx.Query(ctx, `SELECT DISTINCT stream FROM `+table(schema, parkedTable)+` WHERE projection = $1`, p.Name())
	if err != nil {
		return err
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	stale := make(map[string]bool, len(streams))
	for _, s := range streams {
		stale[s] = true
	}
	pk := &parker{tx: tx, schema: schema, m: member{name: p.Name(), apply: p.Apply}, stale: stale}
	_, err = pk.run(ctx, events, true)
	return err
}

// moveParked replaces the parked events of projection name in the live
// schema with those of its rebuild in scratch, as the rebuild's tables
// replace the live ones.
func moveParked(ctx context.Context, tx pgx.Tx, name, scratch string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM `+table(LiveSchema, parkedTable)+` WHERE projection = $1`, name); err != nil {
		return err
	}
	const cols = `projection, position, stream, tenant_id, event_type, error, parked_at`
	_, err := tx.Exec(ctx, `INSERT INTO `+table(LiveSchema, parkedTable)+` (`+cols+`) SELECT `+cols+` FROM `+
		table(scratch, parkedTable)+` WHERE projection = $1`, name)
	return err
}
