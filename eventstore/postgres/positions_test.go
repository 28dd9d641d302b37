package postgres

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// TestRestoredLogIsRefusedThenRebased moves a log's positions far ahead of
// the server's transaction ids, as a restore into a server whose ids
// restart lower does: appends are refused, with ErrLogRestored and nothing
// written, and so is the start-up check, until Rebase; then new events
// follow every old one, and a reader at the old head reads them.
func TestRestoredLogIsRefusedThenRebased(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	ctx := t.Context()
	for range 3 {
		mustAppend(t, s, eventstore.To("before-"+uuid.NewString(), eventstore.NoStream(), newEvent(t, "Before")))
	}
	if _, err := pool.Exec(ctx, disableAppendOnly+`; UPDATE events SET position = position + (1::bigint << 50)`); err != nil {
		t.Fatal(err)
	}
	checkRefusedThenRebased(t, s, pool)
}

// TestRestoreIntoAnotherServer copies a log with pg_dump and pg_restore
// into a server of its own, whose transaction ids start afresh: the copy
// is refused until rebased, then takes appends that every reader of the
// original sees after what it read.
func TestRestoreIntoAnotherServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a server of its own")
	}
	s, pool := newTestStore(t)
	for range 3 {
		mustAppend(t, s, eventstore.To("before-"+uuid.NewString(), eventstore.NoStream(), newEvent(t, "Before")))
	}
	cluster := pgtest.NewCluster(t)
	dump := filepath.Join(t.TempDir(), "ledger.dump")
	run(t, cluster.Bin("pg_dump"), "-Fc", "-f", dump, "-d", pgtest.ConnString(pool.Config().ConnConfig))
	restored := cluster.Pool(t, "restored")
	run(t, cluster.Bin("pg_restore"), "--no-owner", "-d", pgtest.ConnString(cluster.Config(t, "restored")), dump)
	copied := New(restored)
	t.Cleanup(copied.Close)
	checkRefusedThenRebased(t, copied, restored)
}

// checkRefusedThenRebased checks a store s on pool whose log runs ahead of
// its server's transaction ids.
func checkRefusedThenRebased(t *testing.T, s *Store, pool *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPositions(ctx); !errors.Is(err, eventstore.ErrLogRestored) {
		t.Fatalf("check of a restored log = %v, want ErrLogRestored", err)
	}
	refused := newEvent(t, "Refused")
	for _, req := range []eventstore.AppendRequest{
		eventstore.To("after", eventstore.Any(), refused),
		{Streams: []eventstore.StreamEvents{{Stream: "after", Expected: eventstore.Any(), Events: []eventstore.EventData{refused, newEvent(t, "R")}}},
			Key: &eventstore.IdempotencyKey{Caller: "c", Key: "k", Fingerprint: "f"}},
	} {
		if _, err := s.Append(ctx, req); !errors.Is(err, eventstore.ErrLogRestored) {
			t.Fatalf("append to a restored log = %v, want ErrLogRestored", err)
		}
	}
	if h, _ := s.Head(ctx); h != head {
		t.Fatalf("a refused append moved the head from %d to %d", head, h)
	}
	r, err := Rebase(ctx, pool)
	if err != nil || r.NewBase == r.OldBase || int64(head) != r.Head {
		t.Fatalf("rebase = %+v, %v; want a new base above head %d", r, err, head)
	}
	if err := s.CheckPositions(ctx); err != nil {
		t.Fatalf("check after the rebase: %v", err)
	}
	res := mustAppend(t, s, eventstore.To("after", eventstore.Any(), newEvent(t, "After")))
	if res.Position <= head {
		t.Fatalf("after the rebase an event took position %d, not after the head %d", res.Position, head)
	}
	waitForHorizon(t, pool, res.Position)
	if got := read(t, s, head); len(got) != 1 || got[0].Position != res.Position {
		t.Fatalf("a reader at the old head read %d events, want the new one", len(got))
	}
	again, err := Rebase(ctx, pool)
	if err != nil || again.NewBase != again.OldBase {
		t.Fatalf("second rebase = %+v, %v; want nothing to do", again, err)
	}
}

func run(t *testing.T, program string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), program, args...)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(program), err, out)
	}
}

// TestPositionsNeverWrap sets the position base so close to the largest
// bigint that the next position passes it: the append is refused, and
// nothing is written, rather than a position wrapping to a negative one.
func TestPositionsNeverWrap(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	if _, err := pool.Exec(t.Context(), `UPDATE event_log SET position_base = 9223372036854775807 - 65536`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(t.Context(), eventstore.To("overflow", eventstore.Any(), newEvent(t, "Overflow")))
	if !errors.Is(err, eventstore.ErrRefused) {
		t.Fatalf("append past the largest position = %v, want ErrRefused", err)
	}
	if h, _ := s.Head(t.Context()); h != 0 {
		t.Fatalf("head %d after a refused append", h)
	}
}

// disableAppendOnly lets a test rewrite the log, as an operator would
// (docs/audit.md): the events table refuses UPDATE and DELETE.
const disableAppendOnly = `ALTER TABLE events DISABLE TRIGGER events_append_only`
