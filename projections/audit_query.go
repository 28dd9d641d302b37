package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// AuditViewer is who reads a tenant's audit log. A partner_admin sees
// only the actions of its own partner's users: OwnPartnerOnly, with its
// PartnerID. Tenant users with audit.read see everything. A viewer with
// a PartnerID is a partner's user, and sees the metadata of other
// principals' actions reduced (Show).
type AuditViewer struct {
	OwnPartnerOnly bool
	PartnerID      uuid.UUID
}

// Show returns it as v may see it, by domain.SeesActionInFull: in full,
// or with the actor reduced to its type and no keys or request ids. It
// keeps only the fields it names, so a metadata field added to AuditItem
// is left out of reduced items until judged safe to show.
func (v AuditViewer) Show(it AuditItem) AuditItem {
	if v.InFull(it) {
		return it
	}
	return AuditItem{
		Position: it.Position, EventID: it.EventID, Stream: it.Stream, Version: it.Version, Type: it.Type,
		OccurredAt: it.OccurredAt, RecordedAt: it.RecordedAt, Actor: AuditActor{Type: it.Actor.Type}, Data: it.Data,
	}
}

// InFull reports whether v sees the metadata of it in full, by
// domain.SeesActionInFull.
func (v AuditViewer) InFull(it AuditItem) bool {
	viewer := domain.Principal{Type: domain.ActorTenantUser}
	if v.PartnerID != uuid.Nil {
		viewer = domain.Principal{Type: domain.ActorPartnerUser, PartnerID: v.PartnerID}
	}
	actor := domain.Actor{Type: domain.ActorType(it.Actor.Type)}
	if it.Actor.ID != nil {
		actor.ID = *it.Actor.ID
	}
	if it.Actor.PartnerID != nil {
		actor.PartnerID = *it.Actor.PartnerID
	}
	return domain.SeesActionInFull(viewer, actor)
}

// AuditFilter narrows the audit log; a nil or empty field does not
// narrow. From and To bound occurred_at to the half-open range [From, To),
// as the usage summary's from and to do.
type AuditFilter struct {
	PartnerID      *uuid.UUID
	ActorID        *uuid.UUID
	AccountID      *uuid.UUID
	SubscriptionID *uuid.UUID
	Type           string
	From, To       *time.Time
}

// AuditActor is who acted, as api.md shows it: type, id and partner_id,
// the ids null when the actor has none.
type AuditActor struct {
	Type      string     `json:"type"`
	ID        *uuid.UUID `json:"id"`
	PartnerID *uuid.UUID `json:"partner_id"`
}

// AuditItem is one event of a tenant's audit log as api.md represents it.
// Metadata strings the event did not carry are null.
type AuditItem struct {
	Position       eventstore.Position `json:"position"`
	EventID        uuid.UUID           `json:"event_id"`
	Stream         string              `json:"stream"`
	Version        uint64              `json:"version"`
	Type           string              `json:"type"`
	OccurredAt     time.Time           `json:"occurred_at"`
	RecordedAt     time.Time           `json:"recorded_at"`
	Actor          AuditActor          `json:"actor"`
	CorrelationID  *string             `json:"correlation_id"`
	CausationID    *string             `json:"causation_id"`
	RequestID      *string             `json:"request_id"`
	IdempotencyKey *string             `json:"idempotency_key"`
	Data           json.RawMessage     `json:"data"`

	// ClientRequestID is the caller's own X-Request-ID, shown where it is
	// read from the event itself (a subscription's history), to those
	// who see the action in full.
	ClientRequestID *string `json:"client_request_id,omitempty"`
}

// auditColumns are the columns scanAuditItem reads, in its order.
const auditColumns = `position, event_id, stream, version, type, occurred_at, recorded_at, actor_type, actor_id,
    actor_partner_id, correlation_id, causation_id, request_id, idempotency_key, data`

// AuditEvents returns one page of tenant's audit log as viewer may see it,
// narrowed by f, ascending by position
// (GET /v1/tenants/{t}/audit/events). Every filter runs in SQL; the
// cursor is the last position of the page. It is a *StaleError while
// events of the tenant are parked in the audit log.
func AuditEvents(ctx context.Context, db Querier, tenant uuid.UUID, viewer AuditViewer, f AuditFilter, page Page) (List[AuditItem], error) {
	if err := page.Check(); err != nil {
		return List[AuditItem]{}, err
	}
	if viewer.OwnPartnerOnly && viewer.PartnerID == uuid.Nil {
		return List[AuditItem]{}, errors.New("audit events: an own-partner viewer needs its partner id")
	}
	if err := staleTenant(ctx, db, Audit{}.Name(), tenant); err != nil {
		return List[AuditItem]{}, err
	}
	w, err := auditWhere(tenant, viewer, f, page.Cursor)
	if err != nil {
		return List[AuditItem]{}, err
	}
	rows, err := w.queryPage(ctx, db, "", page.Limit+1)
	if err != nil {
		return List[AuditItem]{}, fmt.Errorf("audit events: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanAuditItem)
	if err != nil {
		return List[AuditItem]{}, fmt.Errorf("audit events: %w", err)
	}
	for i := range items {
		items[i] = viewer.Show(items[i])
	}
	return finish(items, page.Limit, func(it AuditItem) any { return it.Position })
}

// auditConds is an SQL condition in parts, with its parameters.
type auditConds struct {
	conds []string
	args  []any
}

// add appends cond, whose one parameter is written %d, with value v.
func (w *auditConds) add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

// queryPage runs prefix (empty, or EXPLAIN) and the query of the first
// limit rows that w selects, by position. It finds their positions
// first, scanning one index, whose entries carry every filter column, in
// position order (see Audit.indexStatements); then it reads those rows
// alone. Filtering the rows themselves instead would read a page of the
// table for each row the filters reject. The query is planned for its
// values each time: which index is the one to scan depends on them, and
// a plan cached for other values took ten times longer.
func (w auditConds) queryPage(ctx context.Context, db Querier, prefix string, limit int) (pgx.Rows, error) {
	args := append(w.planned(), limit)
	t := table(LiveSchema, "audit_log")
	sql := fmt.Sprintf(`%sSELECT %s FROM (SELECT position FROM %s WHERE %s ORDER BY position LIMIT $%d) page
JOIN %s USING (position) ORDER BY position`, prefix, auditColumns, t, strings.Join(w.conds, " AND "), len(args)-1, t)
	return db.Query(ctx, sql, args...)
}

// planned is w's parameters as a query planned for their values each
// time takes them (see queryPage).
func (w auditConds) planned() []any { return append([]any{pgx.QueryExecModeExec}, w.args...) }

// auditWhere turns the tenant, the viewer's restriction, the filter and
// the cursor into conditions; a bad filter or cursor is a domain Invalid.
func auditWhere(tenant uuid.UUID, viewer AuditViewer, f AuditFilter, cursor string) (auditConds, error) {
	var w auditConds
	w.add("tenant_id = $%d", tenant)
	if viewer.OwnPartnerOnly {
		w.add("actor_partner_id = $%d", viewer.PartnerID)
	}
	for _, c := range []struct {
		col string
		id  *uuid.UUID
	}{{"actor_partner_id", f.PartnerID}, {"actor_id", f.ActorID}, {"account_id", f.AccountID}, {"subscription_id", f.SubscriptionID}} {
		if c.id != nil {
			w.add(c.col+" = $%d", *c.id)
		}
	}
	if f.Type != "" {
		if !auditEventTypes()[f.Type] {
			return auditConds{}, domain.Invalid("type", "%q is not an event type", f.Type)
		}
		w.add("type = $%d", f.Type)
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return auditConds{}, domain.Invalid("to", "must not be before from")
	}
	if f.From != nil || f.To != nil {
		w.addDateRange(f.From, f.To)
	}
	if cursor != "" {
		var after eventstore.Position
		if err := decodeCursor(cursor, &after); err != nil {
			return auditConds{}, err
		}
		w.add("position > $%d", int64(after))
	}
	return w, nil
}

// auditEventTypes is the set of the domain's event types, the values of
// the type filter.
var auditEventTypes = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for _, t := range domain.EventTypes() {
		set[t] = true
	}
	return set
})

// scanAuditItem reads a row of auditColumns.
func scanAuditItem(row pgx.CollectableRow) (AuditItem, error) {
	var (
		it                AuditItem
		position, version int64
	)
	err := row.Scan(&position, &it.EventID, &it.Stream, &version, &it.Type, &it.OccurredAt, &it.RecordedAt,
		&it.Actor.Type, &it.Actor.ID, &it.Actor.PartnerID, &it.CorrelationID, &it.CausationID, &it.RequestID,
		&it.IdempotencyKey, &it.Data)
	if err != nil {
		return AuditItem{}, err
	}
	it.Position, it.Version = eventstore.Position(position), uint64(version)
	it.OccurredAt, it.RecordedAt = it.OccurredAt.UTC(), it.RecordedAt.UTC()
	return it, nil
}
