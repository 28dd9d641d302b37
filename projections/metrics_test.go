package projections

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// metricsDB is a database with the event log and the live checkpoints,
// 30 events recorded 3 hours ago (the first 10) and 1 hour ago (the
// rest), and three projections: caught up, behind by 20 events, and not
// started.
type metricsDB struct {
	pool      *pgxpool.Pool
	positions []eventstore.Position
	// agedAt is just before the events' recorded_at were set back: a lag
	// read later is its age then plus at most the time since agedAt.
	agedAt time.Time
}

// lagSlack is how many seconds a lag read now may exceed the age the
// events were given: the time since they were aged, and a second more.
func (db metricsDB) lagSlack() float64 { return time.Since(db.agedAt).Seconds() + 1 }

func newMetricsDB(t *testing.T) metricsDB {
	t.Helper()
	ctx := t.Context()
	pool := pgtest.NewDatabase(t, 4)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := Setup(ctx, pool, nil); err != nil {
		t.Fatalf("set up: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	db := metricsDB{pool: pool}
	for i := range 30 {
		ev, err := eventstore.NewEvent("Noted", map[string]int{"i": i}, eventstore.Metadata{OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Append(ctx, eventstore.To(fmt.Sprintf("note-%d", i%4), eventstore.Any(), ev))
		if err != nil {
			t.Fatal(err)
		}
		db.positions = append(db.positions, res.Position)
	}
	metricsExec(t, pool, `ALTER TABLE events DISABLE TRIGGER events_append_only`) // as an operator would: the log is append-only
	db.agedAt = time.Now()
	metricsExec(t, pool, `UPDATE events SET recorded_at = now() - CASE WHEN position <= $1 THEN interval '3 hours' ELSE interval '1 hour' END`, int64(db.positions[9]))
	metricsExec(t, pool, `INSERT INTO readmodel.checkpoints (name, position) VALUES ('caught', $1), ('behind', $2), ('fresh', 0)`,
		int64(db.positions[29]), int64(db.positions[9]))
	return db
}

func metricsExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	db := newMetricsDB(t)
	for _, tc := range []struct {
		name   string
		lagCap int64
		want   []ProjectionStatus // LagSeconds: the least expected; up to db.lagSlack() more is fine
	}{
		{"uncapped", LagCountCap, []ProjectionStatus{
			{Name: "behind", Position: db.positions[9], LagEvents: 20, LagSeconds: 3600},
			{Name: "caught", Position: db.positions[29], LagEvents: 0, LagSeconds: 0},
			{Name: "fresh", Position: 0, LagEvents: 30, LagSeconds: 3 * 3600},
		}},
		{"capped at 5", 5, []ProjectionStatus{
			{Name: "behind", Position: db.positions[9], LagEvents: 5, LagSeconds: 3600},
			{Name: "caught", Position: db.positions[29], LagEvents: 0, LagSeconds: 0},
			{Name: "fresh", Position: 0, LagEvents: 5, LagSeconds: 3 * 3600},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := projectionStatus(t.Context(), db.pool, tc.lagCap)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			slack := db.lagSlack()
			for i, w := range tc.want {
				g := got[i]
				if g.Name != w.Name || g.Position != w.Position || g.LagEvents != w.LagEvents ||
					g.LagSeconds < w.LagSeconds || (w.LagSeconds > 0 && g.LagSeconds > w.LagSeconds+slack) ||
					(w.LagSeconds == 0 && g.LagSeconds != 0) {
					t.Errorf("got %+v, want %+v (lag seconds up to %.0f s more: the time since the events were aged)", g, w, slack)
				}
			}
		})
	}
}

func TestStatusBeforeSetup(t *testing.T) {
	t.Parallel()
	got, err := Status(t.Context(), pgtest.NewDatabase(t, 2))
	if err != nil || len(got) != 0 {
		t.Errorf("Status of an empty database = %+v, %v; want none", got, err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	db := newMetricsDB(t)
	m := NewMetrics(db.pool)
	m.Applied("behind", 7)
	m.Applied("behind", 3)
	m.Applied("caught", 30)
	m.Applied("caught", 0)
	(*Metrics)(nil).Applied("caught", 1) // a runner without metrics
	m.Parked("behind", 2)
	(*Metrics)(nil).Parked("behind", 1)
	metricsExec(t, db.pool, `INSERT INTO readmodel.parked_events (projection, position, stream, event_type, error)
VALUES ('behind', 1, 'note-1', 'Noted', 'x'), ('behind', 2, 'note-1', 'Noted', 'x'), ('behind', 3, 'note-1', 'Noted', 'x')`)

	want := fmt.Sprintf(`
# HELP ledger_projection_events_applied_total Events applied to the read model by this process, by projection.
# TYPE ledger_projection_events_applied_total counter
ledger_projection_events_applied_total{projection="behind"} 10
ledger_projection_events_applied_total{projection="caught"} 30
ledger_projection_events_applied_total{projection="fresh"} 0
# HELP ledger_projection_checkpoint_position Global log position of the last event the projection applied.
# TYPE ledger_projection_checkpoint_position gauge
ledger_projection_checkpoint_position{projection="behind"} %d
ledger_projection_checkpoint_position{projection="caught"} %d
ledger_projection_checkpoint_position{projection="fresh"} 0
# HELP ledger_projection_lag_events Events in the log after the projection's checkpoint, counted up to 1000000.
# TYPE ledger_projection_lag_events gauge
ledger_projection_lag_events{projection="behind"} 20
ledger_projection_lag_events{projection="caught"} 0
ledger_projection_lag_events{projection="fresh"} 30
# HELP ledger_projection_lag_up 1 when this scrape read the projections' lag from Postgres, else 0.
# TYPE ledger_projection_lag_up gauge
ledger_projection_lag_up 1
# HELP ledger_projection_events_parked_total Events this process parked, by projection: events the projection could not apply, and those after them in their streams.
# TYPE ledger_projection_events_parked_total counter
ledger_projection_events_parked_total{projection="behind"} 2
ledger_projection_events_parked_total{projection="caught"} 0
ledger_projection_events_parked_total{projection="fresh"} 0
# HELP ledger_projection_parked_events Events parked in the read model, by projection, until their streams are rebuilt.
# TYPE ledger_projection_parked_events gauge
ledger_projection_parked_events{projection="behind"} 3
ledger_projection_parked_events{projection="caught"} 0
ledger_projection_parked_events{projection="fresh"} 0
`, db.positions[9], db.positions[29])
	err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"ledger_projection_events_applied_total", "ledger_projection_checkpoint_position",
		"ledger_projection_lag_events", "ledger_projection_lag_up",
		"ledger_projection_events_parked_total", "ledger_projection_parked_events")
	if err != nil {
		t.Error(err)
	}
	slack := db.lagSlack()
	checkLagSeconds(t, m, map[string][2]float64{"behind": {3600, 3600 + slack}, "caught": {0, 0}, "fresh": {10800, 10800 + slack}})
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// checkLagSeconds checks each projection's lag in seconds against its
// range.
func checkLagSeconds(t *testing.T, m *Metrics, want map[string][2]float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ledger_projection_lag_seconds" {
			continue
		}
		for _, metric := range f.GetMetric() {
			got[metric.GetLabel()[0].GetValue()] = metric.GetGauge().GetValue()
		}
	}
	for name, r := range want {
		if v, ok := got[name]; !ok || v < r[0] || v > r[1] {
			t.Errorf("lag seconds of %s = %v (present: %v), want from %v to %v", name, v, ok, r[0], r[1])
		}
	}
}

func TestMetricsWhenTheLagCannotBeRead(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	if err := Setup(context.Background(), pool, nil); err != nil { // checkpoints, but no events table
		t.Fatal(err)
	}
	metricsExec(t, pool, `INSERT INTO readmodel.checkpoints (name, position) VALUES ('orphan', 0)`)
	if _, err := Status(t.Context(), pool); err == nil {
		t.Error("Status without an events table succeeded")
	}
	m := NewMetrics(pool)
	m.Applied("orphan", 2)
	want := `
# HELP ledger_projection_lag_up 1 when this scrape read the projections' lag from Postgres, else 0.
# TYPE ledger_projection_lag_up gauge
ledger_projection_lag_up 0
# HELP ledger_projection_events_applied_total Events applied to the read model by this process, by projection.
# TYPE ledger_projection_events_applied_total counter
ledger_projection_events_applied_total{projection="orphan"} 2
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
