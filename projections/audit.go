package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/eventstore"
)

// Audit is the read model of each tenant's audit log: one row per event
// of the whole log that concerns a tenant (its metadata names one),
// refusals (AccessDenied) included, with the envelope split into columns
// so that every filter of the audit route is an index scan.
type Audit struct{}

// auditChunk bounds the rows of one INSERT: a batch of more events is
// written in several statements.
const auditChunk = 1000

// Name implements Projection.
func (Audit) Name() string { return "audit" }

// Tables implements Projection.
func (Audit) Tables() []string { return []string{"audit_log"} }

// Create implements Projection. The indexes on columns that are often
// NULL (an actor without partner, an event of no account) are partial:
// a filter by equality implies NOT NULL, so they serve every query while
// costing nothing on the rows they leave out.
func (Audit) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %[1]s (
    position         bigint      PRIMARY KEY,
    event_id         uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    stream           text        NOT NULL,
    version          bigint      NOT NULL,
    type             text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    actor_type       text        NOT NULL,
    actor_id         uuid,
    actor_partner_id uuid,
    account_id       uuid,
    subscription_id  uuid,
    correlation_id   text,
    causation_id     text,
    request_id       text,
    idempotency_key  text,
    data             jsonb       NOT NULL
)`, table(schema, "audit_log")))
	if err != nil {
		return fmt.Errorf("audit: create table: %w", err)
	}
	return nil
}

// CreateIndexes implements Indexer: an index for each filter of the audit
// route. A rebuild makes them after loading the table.
func (Audit) CreateIndexes(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE INDEX ON %[1]s (tenant_id, position);
CREATE INDEX ON %[1]s (tenant_id, actor_partner_id, position) WHERE actor_partner_id IS NOT NULL;
CREATE INDEX ON %[1]s (tenant_id, actor_id, position) WHERE actor_id IS NOT NULL;
CREATE INDEX ON %[1]s (tenant_id, account_id, position) WHERE account_id IS NOT NULL;
CREATE INDEX ON %[1]s (tenant_id, subscription_id, position) WHERE subscription_id IS NOT NULL;
CREATE INDEX ON %[1]s (tenant_id, type, position);
CREATE INDEX ON %[1]s (tenant_id, occurred_at)`, table(schema, "audit_log")))
	if err != nil {
		return fmt.Errorf("audit: create indexes: %w", err)
	}
	return nil
}

// Apply implements Projection: the batch's tenant events go in with one
// multi-row INSERT … SELECT FROM unnest(…) per auditChunk events. A
// position already there is left alone, so a replay changes nothing.
// The data is the event's, but for a top-level key_hash (of users' API
// keys), which the audit log does not serve: the log keeps it.
func (Audit) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	sql := auditInsert(table(schema, "audit_log"))
	var rows auditRows
	for _, e := range batch {
		if err := rows.add(e); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if rows.len() == auditChunk {
			if err := rows.flush(ctx, tx, sql); err != nil {
				return err
			}
		}
	}
	return rows.flush(ctx, tx, sql)
}

// auditInsert is the INSERT of auditRows.args into table t.
func auditInsert(t string) string {
	return `INSERT INTO ` + t + ` (position, event_id, tenant_id, stream, version, type, occurred_at, recorded_at,
    actor_type, actor_id, actor_partner_id, account_id, subscription_id, correlation_id, causation_id, request_id,
    idempotency_key, data)
SELECT position, event_id, tenant_id, stream, version, type, occurred_at, recorded_at,
    actor_type, actor_id, actor_partner_id, account_id, subscription_id, NULLIF(correlation_id, ''),
    NULLIF(causation_id, ''), NULLIF(request_id, ''), NULLIF(idempotency_key, ''), data::jsonb - 'key_hash'
FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[],
    $8::timestamptz[], $9::text[], $10::uuid[], $11::uuid[], $12::uuid[], $13::uuid[], $14::text[], $15::text[],
    $16::text[], $17::text[], $18::text[])
    AS u(position, event_id, tenant_id, stream, version, type, occurred_at, recorded_at, actor_type, actor_id,
    actor_partner_id, account_id, subscription_id, correlation_id, causation_id, request_id, idempotency_key, data)
ON CONFLICT (position) DO NOTHING`
}

// auditRows gathers audit rows column by column, as unnest takes them.
type auditRows struct {
	position, version                                     []int64
	eventID, tenantID                                     []uuid.UUID
	stream, typ, actorType, data                          []string
	occurredAt, recordedAt                                []time.Time
	actorID, actorPartnerID, accountID, subscriptionID    []pgtype.UUID
	correlationID, causationID, requestID, idempotencyKey []string
}

func (r *auditRows) len() int { return len(r.position) }

// add appends the row of event e, or nothing when e concerns no tenant.
func (r *auditRows) add(e eventstore.Event) error {
	if e.Metadata.TenantID == "" {
		return nil
	}
	m := e.Metadata
	tenant, err := uuid.Parse(m.TenantID)
	if err != nil {
		return fmt.Errorf("event at %d: tenant id %q: %w", e.Position, m.TenantID, err)
	}
	actor, err := optionalUUID(m.Actor.ID)
	if err != nil {
		return fmt.Errorf("event at %d: actor id %q: %w", e.Position, m.Actor.ID, err)
	}
	actorPartner, err := optionalUUID(m.Actor.PartnerID)
	if err != nil {
		return fmt.Errorf("event at %d: actor partner id %q: %w", e.Position, m.Actor.PartnerID, err)
	}
	account, subscription := auditSubjects(e)
	r.position = append(r.position, int64(e.Position))
	r.version = append(r.version, int64(e.Version))
	r.eventID = append(r.eventID, e.ID)
	r.tenantID = append(r.tenantID, tenant)
	r.stream = append(r.stream, e.Stream)
	r.typ = append(r.typ, e.Type)
	r.actorType = append(r.actorType, m.Actor.Type)
	r.data = append(r.data, string(e.Data))
	r.occurredAt = append(r.occurredAt, m.OccurredAt)
	r.recordedAt = append(r.recordedAt, e.RecordedAt)
	r.actorID = append(r.actorID, actor)
	r.actorPartnerID = append(r.actorPartnerID, actorPartner)
	r.accountID = append(r.accountID, account)
	r.subscriptionID = append(r.subscriptionID, subscription)
	r.correlationID = append(r.correlationID, m.CorrelationID)
	r.causationID = append(r.causationID, m.CausationID)
	r.requestID = append(r.requestID, m.RequestID)
	r.idempotencyKey = append(r.idempotencyKey, m.IdempotencyKey)
	return nil
}

// flush inserts the rows gathered so far and empties r.
func (r *auditRows) flush(ctx context.Context, tx pgx.Tx, sql string) error {
	if r.len() == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, sql, r.position, r.eventID, r.tenantID, r.stream, r.version, r.typ, r.occurredAt,
		r.recordedAt, r.actorType, r.actorID, r.actorPartnerID, r.accountID, r.subscriptionID, r.correlationID,
		r.causationID, r.requestID, r.idempotencyKey, r.data)
	if err != nil {
		return fmt.Errorf("audit: insert %d rows from position %d: %w", r.len(), r.position[0], err)
	}
	*r = auditRows{}
	return nil
}

// optionalUUID parses a metadata id: the empty string is NULL.
func optionalUUID(s string) (pgtype.UUID, error) {
	if s == "" {
		return pgtype.UUID{}, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return pgtype.UUID{}, err
	}
	return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil}, nil
}

// auditSubjects returns the account and subscription an event concerns:
// the account_id and subscription_id of its data where present, else
// what its stream's name tells.
func auditSubjects(e eventstore.Event) (account, subscription pgtype.UUID) {
	if bytes.Contains(e.Data, []byte(`"account_id"`)) || bytes.Contains(e.Data, []byte(`"subscription_id"`)) {
		var ids struct {
			AccountID      string `json:"account_id"`
			SubscriptionID string `json:"subscription_id"`
		}
		_ = json.Unmarshal(e.Data, &ids) // a field of another shape is ignored: the stream may still tell
		account, subscription = lenientUUID(ids.AccountID), lenientUUID(ids.SubscriptionID)
	}
	category, id := streamSubject(e.Stream)
	switch {
	case category == "account" && !account.Valid:
		account = id
	case (category == "subscription" || category == "usage") && !subscription.Valid:
		subscription = id
	}
	return account, subscription
}

// streamSubject splits a tenant-scoped stream name, {category}-{tenant}-{id},
// into its category and id; id is invalid for any other name.
func streamSubject(stream string) (category string, id pgtype.UUID) {
	const idLen = 36
	category, rest, ok := strings.Cut(stream, "-")
	if !ok || len(rest) != 2*idLen+1 || rest[idLen] != '-' {
		return category, pgtype.UUID{}
	}
	return category, lenientUUID(rest[idLen+1:])
}

// lenientUUID parses s, and is NULL for anything but a non-nil UUID.
func lenientUUID(s string) pgtype.UUID {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: id, Valid: true}
}
