package postgres_test

import (
	"context"
	"testing"

	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// TestSnapshotsKeepTheLatestRecordOfEachStream: a save at a version not
// above the stored one changes nothing, and a load answers only the
// streams that have a record, all in one call.
func TestSnapshotsKeepTheLatestRecordOfEachStream(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 4)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	snaps := store.Snapshots()

	saves := []struct {
		stream  string
		version uint64
		record  string
	}{
		{"a", 5, "a@5"},
		{"a", 9, "a@9"},
		{"a", 7, "a@7, behind"},
		{"a", 9, "a@9 again"},
		{"b", 1, "b@1"},
	}
	for _, s := range saves {
		if err := snaps.SaveSnapshot(ctx, s.stream, s.version, []byte(s.record)); err != nil {
			t.Fatalf("save %s at %d: %v", s.stream, s.version, err)
		}
	}
	if err := snaps.SaveSnapshot(ctx, "c", 0, []byte("none")); err == nil {
		t.Fatal("a save at version 0 was accepted")
	}
	got, err := snaps.LoadSnapshots(ctx, []string{"a", "b", "c", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "a@9", "b": "b@1"}
	if len(got) != len(want) {
		t.Fatalf("loaded %d records, want %d: %q", len(got), len(want), got)
	}
	for stream, record := range want {
		if string(got[stream]) != record {
			t.Errorf("%s: %q, want %q", stream, got[stream], record)
		}
	}
}
