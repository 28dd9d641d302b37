package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The server's gauges of each projection's lag, labelled by projection.
const (
	lagEventsMetric  = "ledger_projection_lag_events"
	lagSecondsMetric = "ledger_projection_lag_seconds"
	projectionLabel  = "projection"
)

// LagPoint is one projection's lag at one scrape.
type LagPoint struct {
	Seconds float64
	Events  int64
}

// ParseLag reads the projections' lag gauges from a Prometheus text
// exposition, by projection. Other metrics are ignored; a projection
// with only one of the two gauges gets 0 for the other.
func ParseLag(r io.Reader) (map[string]LagPoint, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	out := map[string]LagPoint{}
	for _, m := range families[lagSecondsMetric].GetMetric() {
		name := labelValue(m, projectionLabel)
		p := out[name]
		p.Seconds = gaugeValue(m)
		out[name] = p
	}
	for _, m := range families[lagEventsMetric].GetMetric() {
		name := labelValue(m, projectionLabel)
		p := out[name]
		p.Events = int64(gaugeValue(m))
		out[name] = p
	}
	return out, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// gaugeValue reads a gauge, or an untyped sample when the exposition
// left out the TYPE line.
func gaugeValue(m *dto.Metric) float64 {
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// lagSampler scrapes GET /metrics and keeps the largest and the last lag
// of each projection.
type lagSampler struct {
	api *api

	mu      sync.Mutex
	samples int
	failed  int
	lastErr string
	byName  map[string]*ProjectionLag
}

func newLagSampler(a *api) *lagSampler {
	return &lagSampler{api: a, byName: map[string]*ProjectionLag{}}
}

// run samples at once, then every interval until ctx ends.
func (s *lagSampler) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample scrapes once. A failed scrape is counted, never fatal.
func (s *lagSampler) sample(ctx context.Context) {
	points, err := s.scrape(ctx)
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		s.lastErr = truncate(err.Error(), 200)
		return
	}
	s.samples++
	for name, p := range points {
		l := s.byName[name]
		if l == nil {
			l = &ProjectionLag{}
			s.byName[name] = l
		}
		l.LastSeconds, l.LastEvents = p.Seconds, p.Events
		l.MaxSeconds, l.MaxEvents = max(l.MaxSeconds, p.Seconds), max(l.MaxEvents, p.Events)
	}
}

func (s *lagSampler) scrape(ctx context.Context) (map[string]LagPoint, error) {
	status, body, err := s.api.raw(ctx, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	if status != 200 {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", status)
	}
	return ParseLag(bytes.NewReader(body))
}

// summary returns what the sampler saw.
func (s *lagSampler) summary() LagSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := LagSummary{Samples: s.samples, FailedSamples: s.failed, LastError: s.lastErr, Projections: map[string]ProjectionLag{}}
	for name, l := range s.byName {
		out.Projections[name] = *l
	}
	return out
}
