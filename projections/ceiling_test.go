package projections

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

func TestAuditCeilingWritesTheProjectionsRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, account, sub := uuid.NewString(), uuid.NewString(), uuid.NewString()
	streams := []string{"note-%d", "account-" + tenant + "-" + account, "usage-" + tenant + "-" + sub, "subscription-" + tenant + "-x"}
	var last eventstore.Position
	for i := range 12 {
		meta := eventstore.Metadata{OccurredAt: time.Now().UTC().Truncate(time.Microsecond), // the ceiling rounds, the projection truncates
			Actor: eventstore.Actor{Type: "tenant_user", ID: uuid.NewString()}, RequestID: fmt.Sprint("req-", i%2)}
		if i%3 != 0 {
			meta.TenantID = tenant // every third event belongs to no tenant and is not audited
		}
		data := map[string]string{"key_hash": "secret"}
		if i%4 == 0 {
			data["account_id"], data["subscription_id"] = uuid.NewString(), "not-an-id"
		}
		ev, err := eventstore.NewEvent("Noted", data, meta)
		if err != nil {
			t.Fatal(err)
		}
		stream := streams[i%len(streams)]
		if i%len(streams) == 0 {
			stream = fmt.Sprintf(stream, i)
		}
		res, err := e.store.Append(t.Context(), eventstore.To(stream, eventstore.Any(), ev))
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	e.start(t, Audit{})
	if err := NewWaiter(e.pool, e.store.Head).Wait(t.Context(), last, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var projected int64
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM readmodel.audit_log`).Scan(&projected); err != nil || projected != 8 {
		t.Fatalf("the audit projection holds %d rows, %v; want 8", projected, err)
	}

	err := pgx.BeginFunc(t.Context(), e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `CREATE SCHEMA ceiling_check`); err != nil {
			return err
		}
		if err := (Audit{}).Create(t.Context(), tx, "ceiling_check"); err != nil {
			return err
		}
		if _, err := tx.Exec(t.Context(), ceilingSQL(table("ceiling_check", "audit_log"))); err != nil {
			return err
		}
		if _, err := tx.Exec(t.Context(), auditDaysOfLog("ceiling_check")); err != nil {
			return err
		}
		diffs, err := compare(t.Context(), tx, Audit{}, "ceiling_check")
		if err == nil && len(diffs) > 0 {
			err = fmt.Errorf("the ceiling's rows differ from the projection's: %+v", diffs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
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

func TestWaitBeforeAndAfterSetup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 3)
	err := NewWaiter(e.pool, e.store.Head).Wait(t.Context(), positions[2], 50*time.Millisecond)
	if !errors.Is(err, ErrLagging) {
		t.Fatalf("before the read models exist: %v, want ErrLagging", err)
	}
	e.start(t, &ledgerOf{name: "waited"})
	if err := NewWaiter(e.pool, e.store.Head).Wait(t.Context(), positions[2], 30*time.Second); err != nil {
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
	if live != 7 {
		t.Fatalf("the live audit_log has %d indexes, want the primary key and 6 for the filters", live)
	}
	if _, err := Rebuild(t.Context(), e.pool, e.store, Audit{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexes(); got != live {
		t.Fatalf("after a rebuild the audit_log has %d indexes, want %d", got, live)
	}
	var keys int
	err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_constraint WHERE conrelid = 'readmodel.audit_log'::regclass AND contype = 'p'`).Scan(&keys)
	if err != nil || keys != 1 {
		t.Fatalf("after a rebuild the audit_log has %d primary keys (%v), want 1", keys, err)
	}
}
