package projections

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// audExport reads every page of ex at limit and returns the rows'
// positions, checking that a viewer's partner sees only its own actions,
// in full.
func audExport(t *testing.T, pool *pgxpool.Pool, ex AuditExport, limit int) []eventstore.Position {
	t.Helper()
	var (
		out   []eventstore.Position
		after eventstore.Position
	)
	for {
		rows, err := ex.Next(t.Context(), pool, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return out
		}
		if len(rows) > limit {
			t.Fatalf("%d rows, limit %d", len(rows), limit)
		}
		for _, r := range rows {
			if r.InFull != ex.viewer.InFull(r.Item) || (!r.InFull && r.Item.RequestID != nil) {
				t.Fatalf("row %+v: in full %v, against the rule", r.Item, r.InFull)
			}
			out = append(out, r.Item.Position)
		}
		after = rows[len(rows)-1].Item.Position
	}
}

func TestAuditExportListsWhatAuditEventsList(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	pool := audDB(t)
	audApply(t, pool, s.log.events)
	from, to := audT0.Add(20*time.Minute), audT0.Add(45*time.Minute)
	all, own1 := AuditViewer{}, AuditViewer{OwnPartnerOnly: true, PartnerID: s.p1}
	for _, c := range []struct {
		name   string
		tenant uuid.UUID
		viewer AuditViewer
		filter AuditFilter
	}{
		{"everything", s.t1, all, AuditFilter{}},
		{"other tenant", s.t2, all, AuditFilter{}},
		{"unknown tenant", uuid.New(), all, AuditFilter{}},
		{"partner in a range", s.t1, all, AuditFilter{PartnerID: &s.p1, From: &from, To: &to}},
		{"own partner", s.t1, own1, AuditFilter{}},
		{"own partner, other partner asked", s.t1, own1, AuditFilter{PartnerID: &s.p2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ex, err := StartAuditExport(t.Context(), pool, c.tenant, c.viewer, c.filter)
			if err != nil {
				t.Fatal(err)
			}
			want := audWant(s, c.tenant, c.viewer, c.filter)
			if n, err := ex.Count(t.Context(), pool); err != nil || n != int64(len(want)) {
				t.Fatalf("count %d, %v; want %d", n, err, len(want))
			}
			for _, limit := range []int{1, 3, 1000} {
				if got := audExport(t, pool, ex, limit); !slices.Equal(got, want) {
					t.Fatalf("limit %d: positions %v, want %v", limit, got, want)
				}
			}
		})
	}
}

// TestAuditExportEndsWhereItStarted checks that an export shows the read
// model as it stood when it started: events applied meanwhile are left
// out, as one snapshot would leave them.
func TestAuditExportEndsWhereItStarted(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	pool := audDB(t)
	half := len(s.log.events) / 2
	audApply(t, pool, s.log.events[:half])
	ex, err := StartAuditExport(t.Context(), pool, s.t1, AuditViewer{}, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audApply(t, pool, s.log.events[half:])
	var want []eventstore.Position
	for _, p := range audWant(s, s.t1, AuditViewer{}, AuditFilter{}) {
		if p <= s.log.events[half-1].Position {
			want = append(want, p)
		}
	}
	if len(want) == 0 || ex.Upto() != want[len(want)-1] {
		t.Fatalf("export ends at %d; the first half's events of the tenant are %v", ex.Upto(), want)
	}
	if got := audExport(t, pool, ex, 2); !slices.Equal(got, want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	if _, err := StartAuditExport(t.Context(), pool, s.t1, AuditViewer{OwnPartnerOnly: true}, AuditFilter{}); err == nil {
		t.Error("an own-partner viewer without its partner started an export")
	}
}
