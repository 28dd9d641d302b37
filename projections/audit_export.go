package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// AuditExport is a read of every event of a tenant's audit log that a
// filter selects, as a viewer may see it, ascending by position, page by
// page (Next), in constant memory. It holds no transaction between pages:
// it ends at Upto, the tenant's last event in the read model when it
// started, and the read model only ever grows by positions above the
// checkpoint it reached, so the pages read together are exactly what one
// snapshot taken at the start would have shown.
type AuditExport struct {
	viewer AuditViewer
	upto   eventstore.Position
	where  auditConds
}

// AuditExportRow is one event of an export, as its viewer may see it;
// InFull tells whether the viewer sees its metadata in full.
type AuditExportRow struct {
	Item   AuditItem
	InFull bool
}

// StartAuditExport checks viewer and f, refuses while events of the
// tenant are parked in the audit log (a *StaleError), and fixes the end
// of the export at the tenant's last event in the read model now.
func StartAuditExport(ctx context.Context, db Querier, tenant uuid.UUID, viewer AuditViewer, f AuditFilter) (AuditExport, error) {
	if viewer.OwnPartnerOnly && viewer.PartnerID == uuid.Nil {
		return AuditExport{}, errors.New("audit export: an own-partner viewer needs its partner id")
	}
	w, err := auditWhere(tenant, viewer, f, "")
	if err != nil {
		return AuditExport{}, err
	}
	if err := staleTenant(ctx, db, Audit{}.Name(), tenant); err != nil {
		return AuditExport{}, err
	}
	var upto int64
	err = db.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM `+table(LiveSchema, "audit_log")+`
WHERE tenant_id = $1`, tenant).Scan(&upto)
	if err != nil {
		return AuditExport{}, fmt.Errorf("audit export: last position: %w", err)
	}
	return AuditExport{viewer: viewer, upto: eventstore.Position(upto), where: w}, nil
}

// Upto is the export's last position: nothing after it is read.
func (x AuditExport) Upto() eventstore.Position { return x.upto }

// Count returns how many events the export holds, for a progress bar.
func (x AuditExport) Count(ctx context.Context, db Querier) (int64, error) {
	w := x.bounded(0)
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM `+table(LiveSchema, "audit_log")+` WHERE `+
		strings.Join(w.conds, " AND "), w.planned()...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("audit export: count: %w", err)
	}
	return n, nil
}

// Next returns at most limit events of the export after position after,
// in order; none when the export is done.
func (x AuditExport) Next(ctx context.Context, db Querier, after eventstore.Position, limit int) ([]AuditExportRow, error) {
	w := x.bounded(after)
	rows, err := w.queryPage(ctx, db, "", limit)
	if err != nil {
		return nil, fmt.Errorf("audit export after %d: %w", after, err)
	}
	items, err := pgx.CollectRows(rows, scanAuditItem)
	if err != nil {
		return nil, fmt.Errorf("audit export after %d: %w", after, err)
	}
	out := make([]AuditExportRow, len(items))
	for i, it := range items {
		out[i] = AuditExportRow{Item: x.viewer.Show(it), InFull: x.viewer.InFull(it)}
	}
	return out, nil
}

// bounded is the export's conditions, with the page's lower bound after
// and the export's upper bound.
func (x AuditExport) bounded(after eventstore.Position) auditConds {
	w := auditConds{conds: append([]string(nil), x.where.conds...), args: append([]any(nil), x.where.args...)}
	w.add("position <= $%d", int64(x.upto))
	if after > 0 {
		w.add("position > $%d", int64(after))
	}
	return w
}

// RecordedEvent is an event of the log exactly as stored: what its leaf
// in the audit Merkle tree commits to.
type RecordedEvent struct {
	Position      eventstore.Position
	ID            uuid.UUID
	Stream        string
	Version       uint64
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      json.RawMessage
	RecordedAt    time.Time
}

// RecordedEvents returns the events at positions, ascending, from the
// event log itself, data and metadata as the text stored. A position
// the log does not hold is an error naming it.
func RecordedEvents(ctx context.Context, db Querier, positions []eventstore.Position) ([]RecordedEvent, error) {
	if len(positions) == 0 {
		return nil, nil
	}
	ps := make([]int64, len(positions))
	for i, p := range positions {
		ps[i] = int64(p)
	}
	rows, err := db.Query(ctx, `SELECT position, event_id, stream, version, type, schema_version, data::text, metadata::text, recorded_at
FROM events WHERE position = ANY($1) ORDER BY position`, ps)
	if err != nil {
		return nil, fmt.Errorf("recorded events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRecordedEvent)
	if err != nil {
		return nil, fmt.Errorf("recorded events: %w", err)
	}
	for i, p := range positions {
		if i >= len(out) || out[i].Position != p {
			return nil, fmt.Errorf("recorded events: the log holds no event at position %d", p)
		}
	}
	return out, nil
}

// scanRecordedEvent reads a row of RecordedEvents.
func scanRecordedEvent(row pgx.CollectableRow) (RecordedEvent, error) {
	var (
		e                 RecordedEvent
		position, version int64
		data, metadata    string
	)
	err := row.Scan(&position, &e.ID, &e.Stream, &version, &e.Type, &e.SchemaVersion, &data, &metadata, &e.RecordedAt)
	if err != nil {
		return RecordedEvent{}, err
	}
	e.Position, e.Version = eventstore.Position(position), uint64(version)
	e.Data, e.Metadata, e.RecordedAt = json.RawMessage(data), json.RawMessage(metadata), e.RecordedAt.UTC()
	return e, nil
}
