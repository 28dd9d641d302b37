package projections

import (
	"context"
	"fmt"
	"testing"
)

// TestEveryProjectionIsInShapeWhenSetUp guards Outdated against noise: the
// tables Setup makes are the shape it compares with, for every projection.
func TestEveryProjectionIsInShapeWhenSetUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := Setup(t.Context(), e.pool, All()); err != nil {
		t.Fatal(err)
	}
	outdated, err := Outdated(t.Context(), e.pool, All())
	if err != nil || len(outdated) != 0 {
		t.Fatalf("Outdated after Setup = %v, %v; want none", outdated, err)
	}
}

// TestUpgradeRebuildsWhatChangedShape plants read models of an older
// build (a column the build no longer has, an index it no longer makes, a
// table it did not have) and checks that each is found and rebuilt, with
// every event, and nothing else is.
func TestUpgradeRebuildsWhatChangedShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		old  string // turns the live table %s into the older build's
	}{
		{"column added since", `ALTER TABLE %s DROP COLUMN stream`},
		{"column removed since", `ALTER TABLE %s ADD COLUMN note text`},
		{"index added since", `CREATE INDEX ON %s (stream)`},
		{"table added since", `DROP TABLE %s`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			positions := e.write(t, 10)
			changed, kept := &ledgerOf{name: fmt.Sprintf("shape_changed_%d", i)}, &ledgerOf{name: fmt.Sprintf("shape_kept_%d", i)}
			stop := e.start(t, changed, kept)
			e.waitFor(t, changed.name, 10, positions[9])
			e.waitFor(t, kept.name, 10, positions[9])
			_ = stop()
			ctx := context.Background()
			if _, err := e.pool.Exec(ctx, fmt.Sprintf(tt.old, table(LiveSchema, changed.name))); err != nil {
				t.Fatal(err)
			}
			ps := []Projection{changed, kept}
			rebuilt, err := Upgrade(ctx, e.pool, e.store, ps, nil)
			if err != nil || len(rebuilt) != 1 || rebuilt[0] != changed.name {
				t.Fatalf("Upgrade = %v, %v; want only %s rebuilt", rebuilt, err, changed.name)
			}
			if outdated, err := Outdated(ctx, e.pool, ps); err != nil || len(outdated) != 0 {
				t.Fatalf("Outdated after Upgrade = %v, %v; want none", outdated, err)
			}
			if diffs, err := Verify(ctx, e.pool, e.store, changed, nil); err != nil || len(diffs) != 0 {
				t.Fatalf("verify after Upgrade = %v, %v; want the whole log", diffs, err)
			}
		})
	}
}
