package audit

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// tamperCase builds a tenant's checkpointed leaves and a log changed from
// them by change.
func tamperCase(t *testing.T, change func(log []leafRow) []leafRow) ([]signedCheckpoint, []witnessLeaf, []leafRow, []uuid.UUID) {
	t.Helper()
	ids := make([]uuid.UUID, 6)
	var witness []witnessLeaf
	var log []leafRow
	tree := NewTree()
	for i := range ids {
		ids[i] = uuid.New()
		h := Hasher.HashLeaf([]byte(fmt.Sprint(i)))
		witness = append(witness, witnessLeaf{id: ids[i], hash: [32]byte(h)})
		log = append(log, leafRow{id: ids[i], position: int64(i + 1), hash: [32]byte(h)})
		if err := tree.Append(h); err != nil {
			t.Fatal(err)
		}
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	return []signedCheckpoint{{size: 6, root: root}}, witness, change(log), ids
}

func TestCompareNamesEveryChange(t *testing.T) {
	t.Parallel()
	extra := uuid.New()
	tests := []struct {
		name   string
		change func([]leafRow) []leafRow
		want   func(ids []uuid.UUID) map[uuid.UUID]string // event → kind
	}{
		{"untampered", func(l []leafRow) []leafRow { return l }, func([]uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{} }},
		{"new events after the checkpoint", func(l []leafRow) []leafRow {
			return append(l, leafRow{id: extra, position: 99, hash: [32]byte(Hasher.HashLeaf([]byte("new")))})
		}, func([]uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{} }},
		{"changed", func(l []leafRow) []leafRow { l[2].hash = [32]byte(Hasher.HashLeaf([]byte("edited"))); return l },
			func(ids []uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{ids[2]: Changed} }},
		{"removed", func(l []leafRow) []leafRow { return slices.Delete(l, 1, 2) },
			func(ids []uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{ids[1]: Removed} }},
		{"inserted", func(l []leafRow) []leafRow {
			return slices.Insert(l, 3, leafRow{id: extra, position: 3, hash: [32]byte(Hasher.HashLeaf([]byte("forged")))})
		}, func([]uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{extra: Inserted} }},
		{"swapped", func(l []leafRow) []leafRow { l[1], l[4] = l[4], l[1]; return l },
			func(ids []uuid.UUID) map[uuid.UUID]string {
				return map[uuid.UUID]string{ids[1]: Reordered, ids[4]: Reordered}
			}},
		{"one moved to the end", func(l []leafRow) []leafRow { return append(l[1:], l[0]) },
			func(ids []uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{ids[0]: Reordered} }},
		{"last removed", func(l []leafRow) []leafRow { return l[:5] },
			func(ids []uuid.UUID) map[uuid.UUID]string { return map[uuid.UUID]string{ids[5]: Removed} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cps, witness, log, ids := tamperCase(t, tc.change)
			findings, err := compareTenant("t1", cps, witness, log)
			if err != nil {
				t.Fatal(err)
			}
			got, roots := map[uuid.UUID]string{}, 0
			for _, f := range findings {
				if f.EventID == uuid.Nil {
					roots++
					continue
				}
				got[f.EventID] = f.Kind
			}
			want := tc.want(ids)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("findings %v; want %v", findings, want)
			}
			if (roots > 0) != (len(want) > 0) {
				t.Fatalf("%d checkpoint findings for %d changed events: %v", roots, len(want), findings)
			}
		})
	}
}

func TestCompareRefusesAWitnessThatDisagreesWithTheCheckpoint(t *testing.T) {
	t.Parallel()
	cps, witness, log, _ := tamperCase(t, func(l []leafRow) []leafRow { return l })
	witness[0].hash = [32]byte(Hasher.HashLeaf([]byte("rewritten")))
	findings, err := compareTenant("t1", cps, witness, log)
	if err != nil || len(findings) != 1 || findings[0].Kind != BadWitness {
		t.Fatalf("findings %v, %v; want one %s", findings, err, BadWitness)
	}
}
