package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
)

// TestAuditCommands checkpoints a small log, then runs `ledger audit
// public-key`, `verify` (0 on the log as checkpointed, non-zero naming the
// event once a payload is edited) and `verify-export` on an export of it.
func TestAuditCommands(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, audit.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_SIGNING_KEY=" + skey}
	run := func(args ...string) (string, error) { t.Helper(); return runLedger(t, env, args...) }
	if out, err := run("migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	defer store.Close()
	tenant := uuid.NewString()
	var events []eventstore.Event
	for i := range 5 {
		e, err := eventstore.NewEvent("Noted", map[string]int{"i": i}, eventstore.Metadata{TenantID: tenant, Actor: eventstore.Actor{Type: "system"}, OccurredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, eventstore.To("note-1", eventstore.Any(), e)); err != nil {
			t.Fatal(err)
		}
	}
	if events, err = store.ReadStream(ctx, "note-1", 1, 10); err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	trees := audit.NewStore(pool, store, key, nil)
	var cp audit.Checkpoint
	for cp.TreeSize < 5 { // the log is read below the horizon, which other tests may hold back
		if cp, err = trees.Checkpoint(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if out, err := run("audit", "public-key"); err != nil || strings.TrimSpace(out) != vkey {
		t.Fatalf("audit public-key = %v %q; want %q", err, out, vkey)
	}
	if out, err := run("audit", "verify"); err != nil || !strings.Contains(out, "ok: the log is as checkpointed") {
		t.Fatalf("audit verify on the untampered log: %v\n%s", err, out)
	}

	dir := t.TempDir()
	files := map[string]string{"export": filepath.Join(dir, "export.ndjson"), "checkpoint": filepath.Join(dir, "checkpoint.json"), "key": filepath.Join(dir, "key.pub")}
	var export strings.Builder
	for _, e := range events {
		leaf, err := audit.LeafOf(e)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(map[string]any{"leaf": leaf, "event_id": e.ID, "stream": e.Stream, "version": e.Version,
			"type": e.Type, "recorded_at": e.RecordedAt})
		export.Write(append(line, '\n'))
	}
	body, _ := json.Marshal(map[string]any{"tree_size": cp.TreeSize, "root_hash": cp.RootHash, "signed_note": cp.SignedNote})
	for name, content := range map[string]string{"export": export.String(), "checkpoint": string(body), "key": vkey + "\n"} {
		if err := os.WriteFile(files[name], []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verifyExport := func() (string, error) {
		return run("audit", "verify-export", "--export", files["export"], "--checkpoint", files["checkpoint"], "--public-key", files["key"])
	}
	if out, err := verifyExport(); err != nil || !strings.Contains(out, "ok: the export's first 5 events of tenant "+tenant) {
		t.Fatalf("audit verify-export: %v\n%s", err, out)
	}
	edited := strings.Replace(export.String(), `"data":{"i":2}`, `"data":{"i":20}`, 1)
	if err := os.WriteFile(files["export"], []byte(edited), 0o600); err != nil || edited == export.String() {
		t.Fatalf("edit the export: %v", err)
	}
	if out, err := verifyExport(); err == nil || !strings.Contains(out, "does not match the checkpoint") {
		t.Fatalf("audit verify-export of an edited export: %v\n%s", err, out)
	}

	if _, err := pool.Exec(ctx, `ALTER TABLE events DISABLE TRIGGER events_append_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE events SET data = '{"i": 200}' WHERE event_id = $1`, events[2].ID); err != nil {
		t.Fatal(err)
	}
	out, err := run("audit", "verify", "--tenant", tenant)
	if err == nil || !strings.Contains(out, "event "+events[2].ID.String()) || !strings.Contains(out, audit.Changed) {
		t.Fatalf("audit verify after an edit: %v\n%s; want it to fail naming event %s", err, out, events[2].ID)
	}
}
