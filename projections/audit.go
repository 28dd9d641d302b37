package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
func (Audit) Tables() []string { return []string{"audit_log", "audit_days"} }

// Create implements Projection. The primary key is one of the indexes
// (CreateIndexes), so that a rebuild makes it after loading the table too.
// Autovacuum visits the table every 100,000 rows inserted, not every 20 %
// of its size, so that the visibility map, which lets the audit route's
// index-only scans skip the table, stays close behind the log.
// data is json, not jsonb: it is served as it is, and stored as the text
// it came as, with no parsing into jsonb on every write.
func (Audit) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %[1]s (
    position         bigint      NOT NULL,
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
    data             json        NOT NULL
) WITH (autovacuum_vacuum_insert_threshold = 100000, autovacuum_vacuum_insert_scale_factor = 0)`, table(schema, "audit_log")))
	if err != nil {
		return fmt.Errorf("audit: create table: %w", err)
	}
	return createAuditDays(ctx, tx, schema)
}

// CreateIndexes implements Indexer: an index for each filter of the audit
// route, and the primary key.
func (a Audit) CreateIndexes(ctx context.Context, tx pgx.Tx, schema string) error {
	each, then := a.indexStatements(schema)
	for _, stmt := range append(each, then...) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("audit: create indexes: %w", err)
		}
	}
	return nil
}

// auditFilterColumns are the columns the audit route filters on by
// equality or range, besides the tenant and the position.
var auditFilterColumns = []string{"type", "actor_partner_id", "actor_id", "account_id", "subscription_id", "occurred_at"}

// auditIndexed are the filter columns with an index of their own.
var auditIndexed = auditFilterColumns[:5]

// indexStatements implements statementIndexer. Each filter column but
// the date has an index (tenant_id, column, position) that carries the
// other filter columns, so that a page of any combination of filters is
// found by scanning the index of one of them in position order and
// reading only the rows it returns (auditPage). A date range is a range
// of positions (audit_days). The indexes on columns that are often NULL
// (an actor without partner, an event of no account) are partial: a
// filter by equality implies NOT NULL. The unique index on position
// becomes the primary key once it is made. The longest to make come
// first, so that a rebuild making them at once ends with the shortest.
func (Audit) indexStatements(schema string) (each, then []string) {
	t := table(schema, "audit_log")
	for _, col := range auditIndexed {
		carried := slices.DeleteFunc(slices.Clone(auditFilterColumns), func(c string) bool { return c == col })
		stmt := `CREATE INDEX ON ` + t + ` (tenant_id, ` + col + `, position) INCLUDE (` + strings.Join(carried, ", ") + `)`
		if col != "type" {
			stmt += ` WHERE ` + col + ` IS NOT NULL`
		}
		each = append(each, stmt)
	}
	each = append(each, `CREATE INDEX ON `+t+` (tenant_id, position)`,
		`CREATE UNIQUE INDEX audit_log_pkey ON `+t+` (position)`)
	return each, []string{`ALTER TABLE ` + t + ` ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_pkey`}
}

// Apply implements Projection: the batch's tenant events go in with one
// multi-row INSERT … SELECT FROM unnest(…) per auditChunk events. A
// position already there is left alone, so a replay changes nothing.
func (Audit) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	sql := auditInsert(table(schema, "audit_log"))
	var rows auditRows
	days := auditDays{}
	for i := range batch {
		row, ok, err := auditRowOf(&batch[i])
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if !ok {
			continue
		}
		rows.add(row)
		days.add(row)
		if rows.len() == auditChunk {
			if err := rows.flush(ctx, tx, sql); err != nil {
				return err
			}
		}
	}
	if err := rows.flush(ctx, tx, sql); err != nil {
		return err
	}
	return days.write(ctx, tx, schema)
}

// Load implements BulkLoader: the batch's tenant events go in with one
// COPY, each row encoded as it is sent.
func (Audit) Load(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	if !slices.ContainsFunc(batch, func(e eventstore.Event) bool { return e.Metadata.TenantID != "" }) {
		return nil
	}
	next := 0
	days := auditDays{}
	err := copyFrom(ctx, tx, table(schema, "audit_log"), auditColumnNames, func(c *copyRows) (bool, error) {
		for ; next < len(batch); next++ {
			row, ok, err := auditRowOf(&batch[next])
			if err != nil {
				return false, err
			}
			if ok {
				next++
				row.copy(c)
				days.add(row)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("audit: copy rows from position %d: %w", batch[0].Position, err)
	}
	return days.write(ctx, tx, schema)
}

// auditColumnNames are the columns of audit_log, in the order of
// auditRow.copy and of the table.
var auditColumnNames = []string{"position", "event_id", "tenant_id", "stream", "version", "type", "occurred_at",
	"recorded_at", "actor_type", "actor_id", "actor_partner_id", "account_id", "subscription_id", "correlation_id",
	"causation_id", "request_id", "idempotency_key", "data"}

// auditInsert is the INSERT of auditRows.args into table t.
func auditInsert(t string) string {
	return `INSERT INTO ` + t + ` (` + strings.Join(auditColumnNames, ", ") + `)
SELECT position, event_id, tenant_id, stream, version, type, occurred_at, recorded_at,
    actor_type, actor_id, actor_partner_id, account_id, subscription_id, NULLIF(correlation_id, ''),
    NULLIF(causation_id, ''), NULLIF(request_id, ''), NULLIF(idempotency_key, ''), data::json
FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[],
    $8::timestamptz[], $9::text[], $10::uuid[], $11::uuid[], $12::uuid[], $13::uuid[], $14::text[], $15::text[],
    $16::text[], $17::text[], $18::text[])
    AS u(position, event_id, tenant_id, stream, version, type, occurred_at, recorded_at, actor_type, actor_id,
    actor_partner_id, account_id, subscription_id, correlation_id, causation_id, request_id, idempotency_key, data)
ON CONFLICT (position) DO NOTHING`
}

// auditRow is the row of one event.
type auditRow struct {
	e                                                  *eventstore.Event
	tenant                                             uuid.UUID
	actorID, actorPartnerID, accountID, subscriptionID pgtype.UUID
	data                                               []byte
}

// auditRowOf returns the row of event e, ok false when e concerns no
// tenant. The data is the event's, but for a top-level key_hash (of users'
// API keys), which the audit log does not serve: the log keeps it.
func auditRowOf(e *eventstore.Event) (auditRow, bool, error) {
	if e.Metadata.TenantID == "" {
		return auditRow{}, false, nil
	}
	m := e.Metadata
	tenant, err := uuid.Parse(m.TenantID)
	if err != nil {
		return auditRow{}, false, fmt.Errorf("event at %d: tenant id %q: %w", e.Position, m.TenantID, err)
	}
	actor, err := optionalUUID(m.Actor.ID)
	if err != nil {
		return auditRow{}, false, fmt.Errorf("event at %d: actor id %q: %w", e.Position, m.Actor.ID, err)
	}
	actorPartner, err := optionalUUID(m.Actor.PartnerID)
	if err != nil {
		return auditRow{}, false, fmt.Errorf("event at %d: actor partner id %q: %w", e.Position, m.Actor.PartnerID, err)
	}
	data, err := auditData(e.Data)
	if err != nil {
		return auditRow{}, false, fmt.Errorf("event at %d: %w", e.Position, err)
	}
	account, subscription := auditSubjects(*e)
	return auditRow{e: e, tenant: tenant, actorID: actor, actorPartnerID: actorPartner, accountID: account,
		subscriptionID: subscription, data: data}, true, nil
}

// auditData is data without its top-level key_hash.
func auditData(data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`key_hash`)) && !bytes.Contains(data, []byte(`\u`)) {
		return data, nil
	}
	if raw, ok := topFields(data, "key_hash"); ok && raw[0] == nil {
		return data, nil
	}
	return withoutKeyHash(data)
}

// copy writes the row as a binary COPY tuple of auditColumnNames.
func (r auditRow) copy(c *copyRows) {
	e, m := r.e, r.e.Metadata
	c.row(len(auditColumnNames))
	c.int8(int64(e.Position))
	c.uuid(e.ID)
	c.uuid(r.tenant)
	c.str(e.Stream)
	c.int8(int64(e.Version))
	c.str(e.Type)
	c.timestamptz(m.OccurredAt)
	c.timestamptz(e.RecordedAt)
	c.str(m.Actor.Type)
	c.nullableUUID(r.actorID)
	c.nullableUUID(r.actorPartnerID)
	c.nullableUUID(r.accountID)
	c.nullableUUID(r.subscriptionID)
	c.strOrNull(m.CorrelationID)
	c.strOrNull(m.CausationID)
	c.strOrNull(m.RequestID)
	c.strOrNull(m.IdempotencyKey)
	c.text(r.data)
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

// add appends row.
func (r *auditRows) add(row auditRow) {
	e, m := row.e, row.e.Metadata
	r.position = append(r.position, int64(e.Position))
	r.version = append(r.version, int64(e.Version))
	r.eventID = append(r.eventID, e.ID)
	r.tenantID = append(r.tenantID, row.tenant)
	r.stream = append(r.stream, e.Stream)
	r.typ = append(r.typ, e.Type)
	r.actorType = append(r.actorType, m.Actor.Type)
	r.data = append(r.data, string(row.data))
	r.occurredAt = append(r.occurredAt, m.OccurredAt)
	r.recordedAt = append(r.recordedAt, e.RecordedAt)
	r.actorID = append(r.actorID, row.actorID)
	r.actorPartnerID = append(r.actorPartnerID, row.actorPartnerID)
	r.accountID = append(r.accountID, row.accountID)
	r.subscriptionID = append(r.subscriptionID, row.subscriptionID)
	r.correlationID = append(r.correlationID, m.CorrelationID)
	r.causationID = append(r.causationID, m.CausationID)
	r.requestID = append(r.requestID, m.RequestID)
	r.idempotencyKey = append(r.idempotencyKey, m.IdempotencyKey)
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
		accountID, subscriptionID := dataSubjects(e.Data)
		account, subscription = lenientUUID(accountID), lenientUUID(subscriptionID)
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

// dataSubjects reads the top-level account_id and subscription_id strings
// of data: found by topFields, else decoded as encoding/json would.
func dataSubjects(data []byte) (accountID, subscriptionID string) {
	if raw, ok := topFields(data, "account_id", "subscription_id"); ok {
		a, aok := plainString(raw[0])
		s, sok := plainString(raw[1])
		if aok && sok {
			return a, s
		}
	}
	var ids struct {
		AccountID      string `json:"account_id"`
		SubscriptionID string `json:"subscription_id"`
	}
	_ = json.Unmarshal(data, &ids) // a field of another shape is ignored: the stream may still tell
	return ids.AccountID, ids.SubscriptionID
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
