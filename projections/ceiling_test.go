package projections

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/eventstore"
)

func TestAuditCeilingWritesTheProjectionsRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := uuid.NewString()
	var last eventstore.Position
	for i := range 12 {
		meta := eventstore.Metadata{OccurredAt: time.Now().UTC(), Actor: eventstore.Actor{Type: "tenant_user", ID: uuid.NewString()}}
		if i%3 != 0 {
			meta.TenantID = tenant // every third event belongs to no tenant and is not audited
		}
		ev, err := eventstore.NewEvent("Noted", map[string]string{"account_id": uuid.NewString(), "key_hash": "secret"}, meta)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.store.Append(t.Context(), fmt.Sprintf("note-%d", i), eventstore.NoStream(), ev)
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	e.start(t, Audit{})
	if err := WaitFor(t.Context(), e.pool, last, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var projected int64
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM readmodel.audit_log`).Scan(&projected); err != nil || projected != 8 {
		t.Fatalf("the audit projection holds %d rows, %v; want 8", projected, err)
	}

	rows, _, err := AuditCeiling(t.Context(), e.pool)
	if err != nil || rows != 8 {
		t.Fatalf("ceiling wrote %d rows, %v; want the 8 audited events", rows, err)
	}
	var left int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = 'readmodel_ceiling'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the ceiling's scratch schema was left behind (%d, %v)", left, err)
	}
}

func TestWaitForBeforeAndAfterSetup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 3)
	err := WaitFor(t.Context(), e.pool, positions[2], 50*time.Millisecond)
	if !errors.Is(err, ErrLagging) {
		t.Fatalf("before the read models exist: %v, want ErrLagging", err)
	}
	e.start(t, &ledgerOf{name: "waited"})
	if err := WaitFor(t.Context(), e.pool, positions[2], 30*time.Second); err != nil {
		t.Fatalf("after the projection caught up: %v", err)
	}
}

func TestRebuiltAuditTableKeepsItsIndexes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	indexes := func() int {
		t.Helper()
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_indexes WHERE schemaname = 'readmodel' AND tablename = 'audit_log'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := Setup(t.Context(), e.pool, []Projection{Audit{}}); err != nil {
		t.Fatal(err)
	}
	live := indexes()
	if live != 8 {
		t.Fatalf("the live audit_log has %d indexes, want the primary key and 7 for the filters", live)
	}
	if _, err := Rebuild(t.Context(), e.pool, e.store, Audit{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexes(); got != live {
		t.Fatalf("after a rebuild the audit_log has %d indexes, want %d", got, live)
	}
}
