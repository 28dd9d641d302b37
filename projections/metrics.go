package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/eventstore"
)

// LagCountCap bounds the lag that is counted in events: counting stops
// there, so that a projection far behind costs a bounded scan.
const LagCountCap = 1_000_000

// lagScrapeTimeout bounds the lag query of one scrape.
const lagScrapeTimeout = 2 * time.Second

// ProjectionStatus is where a projection stands against the event log.
type ProjectionStatus struct {
	// Name is the projection's name.
	Name string
	// Position is its checkpoint: the last position it applied.
	Position eventstore.Position
	// LagEvents counts the events in the log after the checkpoint, at most
	// LagCountCap.
	LagEvents int64
	// LagSeconds is how long ago the first event after the checkpoint was
	// recorded, or 0 when the projection is caught up.
	LagSeconds float64
	// Parked counts the events the projection parked: events it could
	// not apply, and those after them in their streams.
	Parked int64
}

// Status returns the status of each projection with a checkpoint in the
// live schema, by name. It returns none before the live read models are
// set up.
func Status(ctx context.Context, pool *pgxpool.Pool) ([]ProjectionStatus, error) {
	return projectionStatus(ctx, pool, LagCountCap)
}

// statusSQL reads each checkpoint with its lag; positions are sparse, so
// the lag in events is a count, limited so that it walks at most lagCap
// entries of the primary key.
const statusSQL = `
SELECT c.name, c.position,
       (SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.position > c.position
                              ORDER BY e.position LIMIT $1) AS behind),
       coalesce((SELECT greatest(extract(epoch FROM clock_timestamp() - e.recorded_at), 0)::float8
                 FROM events e WHERE e.position > c.position ORDER BY e.position LIMIT 1), 0),
       %s
FROM %s c
ORDER BY c.name`

// parkedCountSQL counts a checkpoint's parked events, in statusSQL.
const parkedCountSQL = `(SELECT count(*) FROM %s p WHERE p.projection = c.name)`

func projectionStatus(ctx context.Context, pool *pgxpool.Pool, lagCap int64) ([]ProjectionStatus, error) {
	checkpoints, parked := table(LiveSchema, "checkpoints"), table(LiveSchema, parkedTable)
	var exists, parkedExists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`, checkpoints, parked).
		Scan(&exists, &parkedExists); err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	if !exists {
		return nil, nil
	}
	parkedCount := "0::bigint" // read models set up by a build that parked nothing
	if parkedExists {
		parkedCount = fmt.Sprintf(parkedCountSQL, parked)
	}
	var out []ProjectionStatus
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// The count's LIMIT makes the planner expect a costly query, and
		// JIT-compiling it took some 125 ms of CPU at every scrape.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, fmt.Sprintf(statusSQL, parkedCount, checkpoints), lagCap)
		if err != nil {
			return err
		}
		var (
			s   ProjectionStatus
			pos int64
		)
		_, err = pgx.ForEachRow(rows, []any{&s.Name, &pos, &s.LagEvents, &s.LagSeconds, &s.Parked}, func() error {
			s.Position = eventstore.Position(pos)
			out = append(out, s)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	return out, nil
}

// Metrics is the projections' Prometheus collector: the events each
// projection applied and parked (counters the runner feeds through
// Applied and Parked), and its checkpoint, lag and parked events, read
// from Postgres at each scrape. Register it with a prometheus.Registerer.
type Metrics struct {
	pool            *pgxpool.Pool
	lagCap          int64
	applied, parked *prometheus.CounterVec

	position, lagEvents, lagSeconds, lagUp, parkedNow *prometheus.Desc
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns the collector of the projections whose checkpoints
// are in pool's database.
func NewMetrics(pool *pgxpool.Pool) *Metrics {
	byProjection := []string{"projection"}
	return &Metrics{
		pool:   pool,
		lagCap: LagCountCap,
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_projection_events_applied_total",
			Help: "Events applied to the read model by this process, by projection.",
		}, byProjection),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_projection_events_parked_total",
			Help: "Events this process parked, by projection: events the projection could not apply, and those after them in their streams.",
		}, byProjection),
		parkedNow: prometheus.NewDesc("ledger_projection_parked_events",
			"Events parked in the read model, by projection, until their streams are rebuilt.", byProjection, nil),
		position: prometheus.NewDesc("ledger_projection_checkpoint_position",
			"Global log position of the last event the projection applied.", byProjection, nil),
		lagEvents: prometheus.NewDesc("ledger_projection_lag_events",
			fmt.Sprintf("Events in the log after the projection's checkpoint, counted up to %d.", LagCountCap), byProjection, nil),
		lagSeconds: prometheus.NewDesc("ledger_projection_lag_seconds",
			"Age of the first event after the projection's checkpoint; 0 when caught up.", byProjection, nil),
		lagUp: prometheus.NewDesc("ledger_projection_lag_up",
			"1 when this scrape read the projections' lag from Postgres, else 0.", nil, nil),
	}
}

// Applied counts n events that projection applied. A nil Metrics counts
// nothing, so the runner may run without one.
func (m *Metrics) Applied(projection string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.applied.WithLabelValues(projection).Add(float64(n))
}

// Parked counts n events that projection parked. A nil Metrics counts
// nothing.
func (m *Metrics) Parked(projection string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.parked.WithLabelValues(projection).Add(float64(n))
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.applied.Describe(ch)
	m.parked.Describe(ch)
	ch <- m.parkedNow
	ch <- m.position
	ch <- m.lagEvents
	ch <- m.lagSeconds
	ch <- m.lagUp
}

// Collect implements prometheus.Collector. It reads the lag with a short
// timeout; when that fails, ledger_projection_lag_up is 0 and the lag
// series are left out rather than the whole scrape failing.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagScrapeTimeout)
	defer cancel()
	statuses, err := projectionStatus(ctx, m.pool, m.lagCap)
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(m.lagUp, prometheus.GaugeValue, up)
	for _, s := range statuses {
		m.applied.WithLabelValues(s.Name) // so that its rate starts at 0
		m.parked.WithLabelValues(s.Name)
		ch <- prometheus.MustNewConstMetric(m.parkedNow, prometheus.GaugeValue, float64(s.Parked), s.Name)
		ch <- prometheus.MustNewConstMetric(m.position, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(m.lagEvents, prometheus.GaugeValue, float64(s.LagEvents), s.Name)
		ch <- prometheus.MustNewConstMetric(m.lagSeconds, prometheus.GaugeValue, s.LagSeconds, s.Name)
	}
	m.applied.Collect(ch)
	m.parked.Collect(ch)
}
