package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// logFixture is a migrated database with a log of two tenants' events and
// a partner's own, appended to the trees and checkpointed twice.
type logFixture struct {
	pool    *pgxpool.Pool
	store   *postgres.Store
	trees   *audit.Store
	key     *audit.Key
	tenants [2]string
	events  map[string][]eventstore.Event // by tenant, in log order
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	pool := pgtest.NewDatabase(t, 4)
	ctx := t.Context()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	skey, _, err := note.GenerateKey(rand.Reader, audit.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &logFixture{pool: pool, store: store, key: key, trees: audit.NewStore(pool, store, key, nil),
		tenants: [2]string{uuid.NewString(), uuid.NewString()}, events: map[string][]eventstore.Event{}}
	partner := uuid.NewString()
	for round := range 2 {
		for i := range 6 {
			tenant := f.tenants[i%2]
			meta := eventstore.Metadata{TenantID: tenant, Actor: eventstore.Actor{Type: "tenant_user", ID: uuid.NewString()},
				CorrelationID: "c", OccurredAt: time.Now().UTC()}
			if i == 4 {
				meta.Actor = eventstore.Actor{Type: "partner_user", ID: uuid.NewString(), PartnerID: partner}
			}
			f.append(t, fmt.Sprintf("account-%d", i%3), meta, map[string]any{"round": round, "i": i, "amount": "12.50", "note": "<&> é"})
		}
		// A partner's own event: in no tenant's tree.
		f.append(t, "partner-"+partner, eventstore.Metadata{Actor: eventstore.Actor{Type: "operator"}, OccurredAt: time.Now().UTC()}, map[string]any{"n": 1})
		f.catchUp(t, f.tenants[0], uint64(3*(round+1)))
		f.catchUp(t, f.tenants[1], uint64(3*(round+1)))
		if n, err := f.trees.SignCheckpoints(ctx, true); err != nil || n != 2 {
			t.Fatalf("signed %d checkpoints, %v; want 2", n, err)
		}
	}
	for _, tenant := range f.tenants {
		if size, err := f.trees.TreeSize(ctx, tenant); err != nil || size != 6 {
			t.Fatalf("tree of %s has %d leaves, %v; want 6", tenant, size, err)
		}
	}
	return f
}

func (f *logFixture) append(t *testing.T, stream string, meta eventstore.Metadata, data any) {
	t.Helper()
	e, err := eventstore.NewEvent("Noted", data, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Append(t.Context(), eventstore.To(stream, eventstore.Any(), e)); err != nil {
		t.Fatal(err)
	}
	read, err := f.store.ReadStream(t.Context(), stream, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if meta.TenantID != "" {
		f.events[meta.TenantID] = append(f.events[meta.TenantID], read[len(read)-1])
	}
}

// catchUp appends until tenant's tree has size leaves: the log is read
// below the horizon, which another test's transaction may hold back.
func (f *logFixture) catchUp(t *testing.T, tenant string, size uint64) {
	t.Helper()
	for {
		if _, err := f.trees.CatchUp(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		got, err := f.trees.TreeSize(t.Context(), tenant)
		switch {
		case err != nil:
			t.Fatal(err)
		case got > size:
			t.Fatalf("tree of %s has %d leaves, want %d", tenant, got, size)
		case got == size:
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *logFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *logFixture) verify(t *testing.T) audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), f.pool, f.key.Verifier, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestVerifyNamesTamperedEvents changes the events table directly, as
// someone with write access to the database could, the trigger dropped.
func TestVerifyNamesTamperedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *logFixture) (uuid.UUID, string)
	}{
		{"payload edited", func(t *testing.T, f *logFixture) (uuid.UUID, string) {
			e := f.events[f.tenants[0]][1]
			f.exec(t, `UPDATE events SET data = '{"round":0,"i":2,"amount":"1250.00","note":"<&> é"}' WHERE event_id = $1`, e.ID)
			return e.ID, audit.Changed
		}},
		{"metadata edited", func(t *testing.T, f *logFixture) (uuid.UUID, string) {
			e := f.events[f.tenants[1]][4]
			f.exec(t, `UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{actor,type}', '"system"')::json WHERE event_id = $1`, e.ID)
			return e.ID, audit.Changed
		}},
		{"row deleted", func(t *testing.T, f *logFixture) (uuid.UUID, string) {
			e := f.events[f.tenants[0]][2]
			f.exec(t, `DELETE FROM events WHERE event_id = $1`, e.ID)
			return e.ID, audit.Removed
		}},
		{"row inserted", func(t *testing.T, f *logFixture) (uuid.UUID, string) {
			e, id := f.events[f.tenants[1]][0], uuid.New()
			f.exec(t, `INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata, recorded_at)
SELECT position + 1, $2, 'account-forged', 1, type, schema_version, data, metadata, recorded_at FROM events WHERE event_id = $1`, e.ID, id)
			return id, audit.Inserted
		}},
		{"positions swapped", func(t *testing.T, f *logFixture) (uuid.UUID, string) {
			a, b := f.events[f.tenants[0]][0], f.events[f.tenants[0]][3]
			f.exec(t, `UPDATE events SET position = -1 WHERE event_id = $1`, a.ID)
			f.exec(t, `UPDATE events SET position = $2 WHERE event_id = $1`, b.ID, int64(a.Position))
			f.exec(t, `UPDATE events SET position = $2 WHERE event_id = $1`, a.ID, int64(b.Position))
			return a.ID, audit.Reordered
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogFixture(t)
			if rep := f.verify(t); len(rep.Findings) != 0 || rep.Events != 12 || rep.Tenants != 2 || rep.Checkpoints != 4 {
				t.Fatalf("untampered log: %+v; want 12 events of 2 tenants, 4 checkpoints, no findings", rep)
			}
			f.exec(t, `DROP TRIGGER events_append_only ON events`)
			id, kind := tc.tamper(t, f)
			rep := f.verify(t)
			named := false
			for _, fd := range rep.Findings {
				named = named || (fd.EventID == id && fd.Kind == kind)
			}
			if !named {
				t.Fatalf("findings %v; want event %s named %s", rep.Findings, id, kind)
			}
		})
	}
}

func TestEventsTableIsAppendOnly(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	for _, sql := range []string{`UPDATE events SET type = 'X'`, `DELETE FROM events`, `TRUNCATE events`} {
		_, err := f.pool.Exec(t.Context(), sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23001" { // restrict_violation
			t.Fatalf("%s: %v; want restrict_violation", sql, err)
		}
	}
}

// TestInclusionProofVerifiesAgainstTheSignedCheckpoint checks every
// tenant's leaves with the transparency-dev verifier, against the
// checkpoint opened with the public key; and that a modified event fails.
func TestInclusionProofVerifiesAgainstTheSignedCheckpoint(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	ctx := t.Context()
	verifier, err := note.NewVerifier(f.key.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range f.tenants {
		cp, err := f.trees.Checkpoint(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		of, opened, err := audit.OpenCheckpoint([]byte(cp.SignedNote), verifier)
		if err != nil || of != tenant || opened.Size != 6 {
			t.Fatalf("checkpoint %q: %s, %+v, %v", cp.SignedNote, of, opened, err)
		}
		for i, e := range f.events[tenant] {
			leaf, err := audit.LeafOf(e)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := f.trees.FindLeaf(ctx, tenant, e.ID)
			if err != nil || ref.Index != uint64(i) {
				t.Fatalf("leaf of event %d: %+v, %v", i, ref, err)
			}
			hashes, err := f.trees.InclusionProof(ctx, tenant, ref.Index, opened.Size)
			if err != nil {
				t.Fatal(err)
			}
			hash := mustHash(t, leaf)
			if !bytes.Equal(hash, ref.Hash) {
				t.Fatalf("event %d: the leaf of the event as read (metadata encoded again) is not the leaf appended", i)
			}
			if raw := f.rawLeaf(t, e.ID); !bytes.Equal(mustHash(t, raw), hash) {
				t.Fatalf("event %d: the leaf of the columns as written (%s) is not the leaf of the event as read (%s)", i, raw.Metadata, leaf.Metadata)
			}
			if err := proof.VerifyInclusion(audit.Hasher, ref.Index, opened.Size, hash, hashes, opened.Hash); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			leaf.Data = json.RawMessage(`{"amount":"0.00"}`)
			if err := proof.VerifyInclusion(audit.Hasher, ref.Index, opened.Size, mustHash(t, leaf), hashes, opened.Hash); err == nil {
				t.Fatalf("event %d modified: the proof verified", i)
			}
		}
		// The first checkpoint (3 leaves) is consistent with the latest.
		root3, err := f.trees.RootAt(ctx, tenant, 3)
		if err != nil {
			t.Fatal(err)
		}
		hashes, err := f.trees.ConsistencyProof(ctx, tenant, 3, opened.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(audit.Hasher, 3, opened.Size, hashes, root3, opened.Hash); err != nil {
			t.Fatalf("consistency 3→%d: %v", opened.Size, err)
		}
	}
	var sizes int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM audit_checkpoints WHERE tenant_id = $1`, f.tenants[0]).Scan(&sizes); err != nil || sizes != 2 {
		t.Fatalf("%d checkpoints of a tenant checkpointed twice, then asked again with no new event, %v; want 2", sizes, err)
	}
	if _, err := f.trees.InclusionProof(ctx, f.tenants[0], 0, 7); !errors.Is(err, audit.ErrTreeSize) {
		t.Fatalf("proof at a size beyond the tree: %v", err)
	}
	// A tenant with no events gets the checkpoint of the empty tree.
	empty, err := f.trees.Checkpoint(ctx, uuid.NewString())
	if err != nil || empty.TreeSize != 0 || !bytes.Equal(empty.RootHash, audit.Hasher.EmptyRoot()) {
		t.Fatalf("empty tenant's checkpoint = %+v, %v", empty, err)
	}
}

// rawLeaf is the leaf of an event's columns, as written.
func (f *logFixture) rawLeaf(t *testing.T, id uuid.UUID) audit.Leaf {
	t.Helper()
	l := audit.Leaf{ID: id}
	err := f.pool.QueryRow(t.Context(), `SELECT stream, version, type, schema_version, data::text, metadata::text, recorded_at FROM events WHERE event_id = $1`, id).
		Scan(&l.Stream, &l.Version, &l.Type, &l.SchemaVersion, &l.Data, &l.Metadata, &l.RecordedAt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustHash(t *testing.T, l audit.Leaf) []byte {
	t.Helper()
	h, err := l.LeafHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTwoAppendersAppendEachEventOnce runs two stores, as two replicas
// would, over one log.
func TestTwoAppendersAppendEachEventOnce(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	other := audit.NewStore(f.pool, f.store, f.key, nil)
	ctx := t.Context()
	for i := range 20 {
		f.append(t, "account-x", eventstore.Metadata{TenantID: f.tenants[0], Actor: eventstore.Actor{Type: "system"}, OccurredAt: time.Now().UTC()}, map[string]int{"i": i})
	}
	errs := make(chan error, 2)
	for _, s := range []*audit.Store{f.trees, other} {
		go func() {
			_, err := s.CatchUp(ctx, true)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.catchUp(t, f.tenants[0], 26)
	if _, err := f.trees.Checkpoint(context.WithoutCancel(ctx), f.tenants[0]); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); len(rep.Findings) != 0 {
		t.Fatalf("findings %v", rep.Findings)
	}
}
