package projections

import (
	"context"
	"slices"
	"testing"
)

func TestVerifyFindsDriftAndRebuildRepairsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 30)
	p := &ledgerOf{name: "drift"}
	stop := e.start(t, p)
	e.waitFor(t, "drift", 30, positions[29])
	_ = stop()
	ctx := context.Background()

	if diffs, err := Verify(ctx, e.pool, e.store, p, nil); err != nil || len(diffs) != 0 {
		t.Fatalf("verify of a faithful read model = %v, %v; want no differences", diffs, err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE `+table(LiveSchema, "drift")+` SET stream = 'tampered' WHERE position = $1`, int64(positions[3])); err != nil {
		t.Fatal(err)
	}
	diffs, err := Verify(ctx, e.pool, e.store, p, nil)
	if err != nil || len(diffs) != 2 {
		t.Fatalf("verify after tampering = %+v, %v; want the row on each side", diffs, err)
	}

	var seen []int64
	stats, err := Rebuild(ctx, e.pool, e.store, p, func(step Step, done, _ int64) {
		if step == StepEvents {
			seen = append(seen, done)
		}
	})
	if err != nil || stats.Events != 30 || len(seen) == 0 {
		t.Fatalf("rebuild = %+v, %v (progress %v); want 30 events with progress", stats, err, seen)
	}
	if diffs, err := Verify(ctx, e.pool, e.store, p, nil); err != nil || len(diffs) != 0 {
		t.Fatalf("verify after rebuild = %v, %v; want no differences", diffs, err)
	}
}

func TestRebuildWhileTheLiveProjectionRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, 20)
	p := &ledgerOf{name: "busy"}
	e.start(t, p)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := Rebuild(ctx, e.pool, e.store, p, nil)
		done <- err
	}()
	more := e.write(t, 20)
	if err := <-done; err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	e.waitFor(t, "busy", 40, more[19])
	if diffs, err := Verify(ctx, e.pool, e.store, p, nil); err != nil || len(diffs) != 0 {
		t.Fatalf("verify = %v, %v; want no differences", diffs, err)
	}
	var schemas int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'readmodel_build_%'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Fatalf("%d scratch schemas left behind (%v)", schemas, err)
	}
}

func TestRebuildAllReadsTheLogOnceForEveryProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 25)
	a, b := &ledgerOf{name: "first"}, &ledgerOf{name: "second"}
	ctx := context.Background()
	var progress []int64
	stats, err := RebuildAll(ctx, e.pool, e.store, []Projection{a, b}, func(step Step, done, _ int64) {
		if step == StepEvents {
			progress = append(progress, done)
		}
	})
	if err != nil || stats.Events != 25 || progress[len(progress)-1] != 25 {
		t.Fatalf("rebuild all = %+v, %v (progress %v); want 25 events read once", stats, err, progress)
	}
	for _, p := range []*ledgerOf{a, b} {
		e.waitFor(t, p.name, 25, positions[24])
		if diffs, err := Verify(ctx, e.pool, e.store, p, nil); err != nil || len(diffs) != 0 {
			t.Fatalf("verify %s = %v, %v; want no differences", p.name, diffs, err)
		}
	}
}

// TestRebuildVacuumsAndAnalyzesWhatItSwapsIn: a rebuilt table comes in
// with its statistics and visibility map made, not left to autovacuum.
func TestRebuildVacuumsAndAnalyzesWhatItSwapsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, 30)
	if _, err := Rebuild(t.Context(), e.pool, e.store, Audit{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, table := range (Audit{}).Tables() {
		var vacuumed, analyzed bool
		err := e.pool.QueryRow(t.Context(), `SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL
FROM pg_stat_user_tables WHERE schemaname = 'readmodel' AND relname = $1`, table).Scan(&vacuumed, &analyzed)
		if err != nil || !vacuumed || !analyzed {
			t.Errorf("rebuilt %s: vacuumed %v, analyzed %v (%v); want both", table, vacuumed, analyzed, err)
		}
	}
}

// TestRebuildTellsEachStep: a rebuild's progress goes through its steps in
// order, each to its end: the events applied, the indexes made, the
// tables vacuumed.
func TestRebuildTellsEachStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, 30)
	type told struct {
		step        Step
		done, total int64
	}
	var last []told
	_, err := Rebuild(t.Context(), e.pool, e.store, Audit{}, func(step Step, done, total int64) {
		if len(last) == 0 || last[len(last)-1].step != step {
			last = append(last, told{step: step})
		}
		last[len(last)-1].done, last[len(last)-1].total = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	indexes, _ := Audit{}.indexStatements(LiveSchema)
	want := []told{{StepEvents, 30, 30}, {StepIndexes, int64(len(indexes)), int64(len(indexes))},
		{StepTables, int64(len(Audit{}.Tables())), int64(len(Audit{}.Tables()))}}
	if !slices.Equal(last, want) {
		t.Errorf("steps told %+v; want %+v", last, want)
	}
}
